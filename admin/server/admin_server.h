// cvadmin's wiring: the store, the keys, the service, two HTTP listeners and a one-second sweep,
// all on one event loop (the main thread).
//
// Client API (listening-ip:listening-port; TLS with cert/pkey), per-IP then per-user limits:
//   GET  /.well-known/jwks.json            the token keys (JWKS)
//   GET  /healthz, /readyz                 liveness; readiness (the store answers)
//   POST /v1/call-sessions                 start a call → token, STUN servers, entitlements
//   GET  /v1/call-sessions/{id}            the session's state
//   POST /v1/call-sessions/{id}/events     connected, reconnected, route, heartbeat, ended
//   POST /v1/turn-credentials              {"token"} → iceServers with TURN (entitled plans)
//   GET  /v1/entitlements                  the caller's plan and what is left of it
//   GET  /v1/contacts, POST /v1/contacts, DELETE /v1/contacts/{id}
//   GET  /app/…                            static files from web-root, when set (static_files.h)
// Admin API (admin-ip:admin-port, "Authorization: Bearer <admin token>"):
//   POST /admin/users                      {"id","tier","public_key"}
//   GET  /admin/users/{id}
//   POST /admin/users/{id}/tier            {"tier"}
//   GET  /metrics, /healthz, /readyz
//
// Threading: everything runs on the thread that calls Run().
#pragma once

#include <memory>
#include <string>

#include "admin/server/config.h"

namespace cv::admin {

class AdminServer {
 public:
  // Opens the store, loads keys, secrets and plans, binds both listeners. nullptr with `error`.
  static std::unique_ptr<AdminServer> Create(const AdminConfig& config, std::string* error);
  virtual ~AdminServer() = default;
  // Serves until SIGTERM or SIGINT; returns the exit code.
  virtual int Run() = 0;
};

}  // namespace cv::admin
