#include "relay/turn/revocations.h"

#include <algorithm>

namespace cv::turn {

void RevocationTable::Add(RevocationKind kind, std::string_view id, int64_t until, int64_t now) {
  for (Map* map : {&users_, &sessions_}) {
    std::erase_if(*map, [now](const auto& entry) { return entry.second < now; });
  }
  int64_t& end = MapFor(kind)[std::string(id)];
  end = std::max(end, until);
}

bool RevocationTable::Lift(RevocationKind kind, std::string_view id) {
  return MapFor(kind).erase(std::string(id)) > 0;
}

bool RevocationTable::Live(const Map& map, const std::string& id, int64_t now) {
  if (map.empty()) return false;
  auto it = map.find(id);
  return it != map.end() && it->second >= now;
}

bool RevocationTable::Revoked(const auth::Entitlement& e, int64_t now) const {
  return Live(users_, e.user, now) || (!e.session.empty() && Live(sessions_, e.session, now));
}

}  // namespace cv::turn
