// One SQLite connection as this project's stores use it: a file that is created with mode 0640
// (its directory 0750 when asked), opened in WAL mode with synchronous=FULL and a busy timeout,
// migrated through PRAGMA user_version, and written in BEGIN IMMEDIATE transactions that are
// retried while another connection (in any process) holds the lock. The usage ledger and the
// cvadmin store are built on it; their schemas stay theirs.
//
// Schema migrations are an array of SQL scripts: migrations[v] takes a file from version v to
// v + 1. Open runs the missing ones in order, in one write transaction that ends by setting
// user_version to migrations.size(), so a file is at one version or the other, never in between.
// An entry is never edited once released; a new version is one more entry. A file whose version
// is newer than migrations.size() is refused (an older build must not write a newer schema).
//
// Errors read "<label> <path>: <what>" ("<path>: <what>" with an empty label).
//
// Threading: a SqliteDb is one connection, for one thread at a time; open one per thread. Separate
// connections to the same file, in any processes, are safe: SQLite's locks serialise writers and
// WAL lets readers go on meanwhile. The SqliteDb owns its connection and every statement it
// prepared; a Statement borrows one and must be gone before the SqliteDb is.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace cv::auth {

struct SqliteDbOptions {
  int busy_timeout_ms = 5000;  // how long a call waits for another connection's lock
  bool read_only = false;      // never creates, migrates or writes the file
  bool create_parent = false;  // create the file's directory (one level, mode 0750) if missing
  std::string label;           // error prefix before the path, e.g. "usage-db"
  // For messages about the schema version: what the file is ("usage ledger") and which program
  // writes it ("cvrelay").
  std::string kind = "database";
  std::string program = "the writer";
  // Runs on the new connection before any migration (e.g. to register SQL functions the schema
  // or the store's statements use); a result other than SQLITE_OK fails the open.
  std::function<int(sqlite3*)> setup;
};

class SqliteDb {
 public:
  // Borrows a statement prepared (and cached) by its SqliteDb. When it goes away the statement is
  // reset and its bindings cleared, so that no statement keeps a read transaction (and with it an
  // old WAL snapshot) open. Columns and parameters are numbered as SQLite numbers them: columns
  // from 0, parameters from 1. Two Statements of the same SQL text must not be alive at once.
  class Statement {
   public:
    explicit Statement(sqlite3_stmt* s) : s_(s) {}
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement();

    explicit operator bool() const { return s_ != nullptr; }
    sqlite3_stmt* get() const { return s_; }

    void Bind(int i, int64_t v);
    // Text and blobs are bound as they are, never copied: they must outlive the step. An empty
    // view binds '' (or an empty blob), never SQL NULL.
    void Bind(int i, std::string_view v);
    void BindBlob(int i, std::string_view v);
    void BindNull(int i);
    int Step();    // sqlite3_step: SQLITE_ROW, SQLITE_DONE or an error code
    void Reset();  // ready to step again; bindings are kept

    int64_t Int(int column) const;
    uint64_t UInt(int column) const;  // negative values read as 0
    // The column's bytes, valid until the next Step, Reset or column access of this column.
    std::string_view TextView(int column) const;
    std::string Text(int column) const { return std::string(TextView(column)); }
    std::string Blob(int column) const;

   private:
    sqlite3_stmt* s_;
  };

  // A transaction body: returns SQLITE_OK, or the failing result code (setting `what` when the
  // failure is not SQLite's own, e.g. a value it cannot read back).
  using Body = std::function<int(std::string* what)>;

  // Opens `path`: creates the file (and directory) unless read_only, switches to WAL with
  // persistent -wal/-shm files (journal_size_limit 64 MiB), sets synchronous=FULL and
  // foreign_keys=ON, runs options.setup, then migrates (see above). A read-only open refuses a
  // file older than migrations.size(). A file this call created is removed again if the open
  // fails. nullptr with `error` on failure.
  static std::unique_ptr<SqliteDb> Open(const std::string& path, const SqliteDbOptions& options,
                                        std::span<const char* const> migrations,
                                        std::string* error);

  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Prepares `sql` (one statement) once per connection; a null Statement on failure
  // (ErrorCode/ErrorMessage say why).
  Statement Prepare(const std::string& sql);
  // Runs one cached statement to its first row or its end; SQLITE_OK or the error code.
  int Exec(const char* sql);

  // Runs `body` in BEGIN IMMEDIATE (write) or BEGIN (read) … COMMIT, rolling back on failure and
  // retrying the whole transaction while the database is busy or locked, for up to
  // busy_timeout_ms; `body` may therefore run more than once and must start from scratch each
  // time. False with "<label> <path>: <what>: <why>" in `error` when it did not commit.
  bool Transact(bool write, const Body& body, std::string_view what, std::string* error);

  int Changes() const;  // rows changed by the latest INSERT, UPDATE or DELETE
  int ErrorCode() const;
  std::string ErrorMessage() const;
  // "<label> <path>" (or "<path>"): what errors start with, before ": ".
  std::string Describe() const;

  const std::string& path() const { return path_; }
  int schema_version() const { return version_; }
  sqlite3* handle() const { return db_; }

 private:
  SqliteDb(std::string path, sqlite3* db, const SqliteDbOptions& options, int version);

  const std::string path_;
  sqlite3* const db_;
  const int busy_timeout_ms_;
  const std::string label_;
  const int version_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace cv::auth
