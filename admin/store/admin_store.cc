#include "admin/store/admin_store.h"

namespace cv::admin {

const char* CallKindName(CallKind kind) {
  switch (kind) {
    case CallKind::kDirect:
      return "direct";
    case CallKind::kGroup:
      return "group";
    case CallKind::kExternalLink:
      return "external_link";
  }
  return "unknown";  // not an enumerator: ParseCallKind refuses it, so it never reads back
}

std::optional<CallKind> ParseCallKind(std::string_view name) {
  for (CallKind kind : {CallKind::kDirect, CallKind::kGroup, CallKind::kExternalLink}) {
    if (name == CallKindName(kind)) return kind;
  }
  return std::nullopt;
}

}  // namespace cv::admin
