#include "cv/auth/sqlite_db.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace cv::auth {

namespace {

bool IsBusy(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

std::string Prefix(const std::string& label, const std::string& path) {
  return label.empty() ? path : label + " " + path;
}

// Why a file at schema `version` cannot be used by this build, or "" when it can (possibly after
// migrating it).
std::string VersionProblem(int64_t version, int64_t current, const SqliteDbOptions& options) {
  if (version > current) {
    return "schema version " + std::to_string(version) + " is newer than this build (" +
           std::to_string(current) + "); upgrade " + options.program;
  }
  if (version < 0) {
    return "schema version " + std::to_string(version) + " is not a " + options.kind + "'s";
  }
  return "";
}

// Runs one statement that yields at most one integer (a PRAGMA); nullopt on failure.
std::optional<int64_t> QueryInt(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) {
    sqlite3_finalize(s);
    return std::nullopt;
  }
  const int rc = sqlite3_step(s);
  std::optional<int64_t> value;
  if (rc == SQLITE_ROW) {
    value = sqlite3_column_int64(s, 0);
  } else if (rc == SQLITE_DONE) {
    value = 0;
  }
  sqlite3_finalize(s);
  return value;
}

// Brings the file to migrations.size() in one write transaction. The version is read again under
// the write lock: another process may have migrated it meanwhile.
bool Migrate(sqlite3* db, std::span<const char* const> migrations, const SqliteDbOptions& options,
             int* version, std::string* what) {
  const auto target = static_cast<int64_t>(migrations.size());
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    *what = std::string("cannot start the schema migration: ") + sqlite3_errmsg(db);
    return false;
  }
  auto fail = [&](std::string why) {
    *what = std::move(why);
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return false;
  };
  const std::optional<int64_t> current = QueryInt(db, "PRAGMA user_version");
  if (!current) return fail(std::string("cannot read the schema version: ") + sqlite3_errmsg(db));
  if (std::string problem = VersionProblem(*current, target, options); !problem.empty()) {
    return fail(problem);
  }
  for (int64_t v = *current; v < target; ++v) {
    if (sqlite3_exec(db, migrations[static_cast<size_t>(v)], nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
      return fail("migrating schema version " + std::to_string(v) + " to " + std::to_string(v + 1) +
                  ": " + sqlite3_errmsg(db));
    }
  }
  const std::string set_version = "PRAGMA user_version = " + std::to_string(target);
  if (sqlite3_exec(db, set_version.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail(std::string("committing the schema migration: ") + sqlite3_errmsg(db));
  }
  *version = static_cast<int>(target);
  return true;
}

// What open(2)/SQLite said, with errno's text when the OS had something to say.
std::string OpenFailure(sqlite3* db) {
  std::string what = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
  const int err = db != nullptr ? sqlite3_system_errno(db) : 0;
  if (err != 0) what += std::string(" (") + std::strerror(err) + ")";
  return what;
}

}  // namespace

// Statement

SqliteDb::Statement::~Statement() {
  if (s_ != nullptr) {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
}

void SqliteDb::Statement::Bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }

void SqliteDb::Statement::Bind(int i, std::string_view v) {
  // A null data() would bind SQL NULL.
  sqlite3_bind_text(s_, i, v.data() != nullptr ? v.data() : "", static_cast<int>(v.size()),
                    SQLITE_STATIC);
}

void SqliteDb::Statement::BindBlob(int i, std::string_view v) {
  sqlite3_bind_blob(s_, i, v.data() != nullptr ? v.data() : "", static_cast<int>(v.size()),
                    SQLITE_STATIC);
}

void SqliteDb::Statement::BindNull(int i) { sqlite3_bind_null(s_, i); }

int SqliteDb::Statement::Step() { return sqlite3_step(s_); }

void SqliteDb::Statement::Reset() { sqlite3_reset(s_); }

int64_t SqliteDb::Statement::Int(int column) const { return sqlite3_column_int64(s_, column); }

uint64_t SqliteDb::Statement::UInt(int column) const {
  const int64_t v = sqlite3_column_int64(s_, column);
  return v < 0 ? 0 : static_cast<uint64_t>(v);
}

std::string_view SqliteDb::Statement::TextView(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s_, column));
  return text == nullptr
             ? std::string_view()
             : std::string_view(text, static_cast<size_t>(sqlite3_column_bytes(s_, column)));
}

std::string SqliteDb::Statement::Blob(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(s_, column));
  return data == nullptr ? std::string()
                         : std::string(data, static_cast<size_t>(sqlite3_column_bytes(s_, column)));
}

// SqliteDb

SqliteDb::SqliteDb(std::string path, sqlite3* db, const SqliteDbOptions& options, int version)
    : path_(std::move(path)),
      db_(db),
      busy_timeout_ms_(std::max(options.busy_timeout_ms, 0)),
      label_(options.label),
      version_(version) {}

SqliteDb::~SqliteDb() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

std::unique_ptr<SqliteDb> SqliteDb::Open(const std::string& path, const SqliteDbOptions& options,
                                         std::span<const char* const> migrations,
                                         std::string* error) {
  const auto target = static_cast<int64_t>(migrations.size());
  sqlite3* db = nullptr;
  bool created = false;
  auto fail = [&](const std::string& what) -> std::unique_ptr<SqliteDb> {
    if (db != nullptr) sqlite3_close(db);
    if (created) {  // leave nothing half-made behind
      ::unlink(path.c_str());
      ::unlink((path + "-wal").c_str());
      ::unlink((path + "-shm").c_str());
    }
    if (error != nullptr) *error = Prefix(options.label, path) + ": " + what;
    return nullptr;
  };

  if (!options.read_only) {
    if (options.create_parent) {
      const size_t slash = path.find_last_of('/');
      const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
      if (!dir.empty()) {
        if (::mkdir(dir.c_str(), 0750) == 0) {
          ::chmod(dir.c_str(), 0750);  // whatever the umask
        } else if (errno != EEXIST) {
          return fail("cannot create directory " + dir + ": " + std::strerror(errno));
        }
      }
    }
    // Created here rather than by SQLite so that it is 0640 from the start, whatever the umask.
    // SQLite gives the -wal and -shm files the database file's mode.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd >= 0) {
      created = true;
      const bool mode_ok = ::fchmod(fd, 0640) == 0;
      const int err = errno;
      ::close(fd);
      if (!mode_ok) return fail(std::string("cannot set mode 0640: ") + std::strerror(err));
    } else if (errno != EEXIST) {
      return fail(std::string("cannot create: ") + std::strerror(errno));
    }
  }

  const int flags =
      (options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    return fail(OpenFailure(db));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, std::max(options.busy_timeout_ms, 0));

  const std::optional<int64_t> found = QueryInt(db, "PRAGMA user_version");
  if (!found) return fail(OpenFailure(db));
  if (std::string problem = VersionProblem(*found, target, options); !problem.empty()) {
    return fail(problem);
  }
  int version = static_cast<int>(*found);
  if (options.read_only && version < target) {
    return fail("schema version " + std::to_string(version) + " is older than this build (" +
                std::to_string(target) + "); it is not a " + options.kind + " yet, or " +
                options.program + " has not migrated it");
  }

  if (!options.read_only) {
    sqlite3_stmt* s = nullptr;
    std::string mode;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(s, 0);
      if (text != nullptr) mode = reinterpret_cast<const char*>(text);
    }
    sqlite3_finalize(s);
    if (mode != "wal") return fail("cannot switch to WAL mode: " + OpenFailure(db));
    // Keep -wal and -shm when the last connection closes: a reader that may not create files in
    // the directory (another program in the group, directory 0750) can then still open the file
    // while the writer is stopped. After a checkpoint the WAL is cut back to at most 64 MiB.
    int persist = 1;
    sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    if (sqlite3_exec(db, "PRAGMA journal_size_limit = 67108864", nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
      return fail(OpenFailure(db));
    }
  }
  if (sqlite3_exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", nullptr, nullptr,
                   nullptr) != SQLITE_OK) {
    return fail(OpenFailure(db));
  }
  if (options.setup && options.setup(db) != SQLITE_OK) return fail(OpenFailure(db));

  if (!options.read_only && version < target) {
    std::string what;
    if (!Migrate(db, migrations, options, &version, &what)) return fail(what);
  }
  created = false;  // from here on the file is the store's: never unlink it
  std::unique_ptr<SqliteDb> opened(new SqliteDb(path, db, options, version));
  db = nullptr;
  return opened;
}

SqliteDb::Statement SqliteDb::Prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return Statement(it->second);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()) + 1,
                         SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return Statement(nullptr);
  }
  statements_.emplace(sql, stmt);
  return Statement(stmt);
}

int SqliteDb::Exec(const char* sql) {
  Statement s = Prepare(sql);
  if (!s) return ErrorCode();
  const int rc = s.Step();
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

bool SqliteDb::Transact(bool write, const Body& body, std::string_view what, std::string* error) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(busy_timeout_ms_);
  auto backoff = std::chrono::milliseconds(1);
  for (;;) {
    std::string failure;
    int rc = Exec(write ? "BEGIN IMMEDIATE" : "BEGIN");
    if (rc == SQLITE_OK) {
      rc = body(&failure);
      if (rc == SQLITE_OK) rc = Exec("COMMIT");
    }
    if (rc == SQLITE_OK) return true;
    if (failure.empty()) failure = sqlite3_errmsg(db_);
    if (!sqlite3_get_autocommit(db_)) Exec("ROLLBACK");
    // SQLite's busy handler has already waited on most locks; this covers the cases it does not
    // (a lock lost to another writer between statements, WAL recovery).
    if (IsBusy(rc) && Clock::now() + backoff < deadline) {
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
      continue;
    }
    if (error != nullptr) *error = Describe() + ": " + std::string(what) + ": " + failure;
    return false;
  }
}

int SqliteDb::Changes() const { return sqlite3_changes(db_); }

int SqliteDb::ErrorCode() const { return sqlite3_errcode(db_); }

std::string SqliteDb::ErrorMessage() const { return sqlite3_errmsg(db_); }

std::string SqliteDb::Describe() const { return Prefix(label_, path_); }

}  // namespace cv::auth
