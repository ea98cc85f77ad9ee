// backup_cmd.cc - `hato backup create|restore`.
//
// create: only the daemon may touch its RocksDB queue while it runs, so the copy is the
// daemon's (POST /v1/backup, a RocksDB checkpoint: consistent, and hard links when DIR is on
// the same file system); this side names the directory and reports.
//
// restore: a plain file copy into <data_dir>/queue.restoring, each file synced, then one
// rename, so a crash halfway leaves no half-restored queue under the real name. The backup is
// copied, never linked or moved: the daemon writes into its queue, and the backup must stay as
// it was. Afterwards the restored queue is opened once, which proves it whole and counts it.
#include "cli/backup_cmd.h"
#include "cli/output.h"

#include <event2/http.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string_view>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "common/json.h"
#include "queue/store.h"

namespace hato::cli {

namespace fs = std::filesystem;

namespace {

const char kUsage[] =
    "usage: hato backup create DIR\n"
    "       hato backup restore DIR [--force]\n";

int usage(const std::string& problem = "") {
  if (!problem.empty()) std::cerr << "hato: " << problem << "\n";
  std::cerr << kUsage;
  return kExitUsage;
}

std::string socket_path(const conf::Config& config) {
  return config.admin.socket.empty() ? config.data_dir + "/admin.sock" : config.admin.socket;
}

std::string url_encode(const std::string& s) {
  char* encoded = evhttp_uriencode(s.data(), static_cast<ev_ssize_t>(s.size()), 0);
  if (!encoded) return s;
  std::string out(encoded);
  std::free(encoded);
  return out;
}

std::string last_line(std::string_view body) {
  while (!body.empty() && body.back() == '\n') body.remove_suffix(1);
  size_t nl = body.rfind('\n');
  return std::string(nl == std::string_view::npos ? body : body.substr(nl + 1));
}

// Inside or equal to `root`, component by component ("/a/bc" is not inside "/a/b").
bool within(const fs::path& path, const fs::path& root) {
  std::string p = path.lexically_normal().string(), r = root.lexically_normal().string();
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  return p == r || p.starts_with(r + "/");
}

int create(const std::string& dir_arg, const conf::Config& config) {
  std::error_code ec;
  fs::path dir = fs::absolute(dir_arg, ec).lexically_normal();
  if (ec) return fail(kExitFailed, dir_arg + ": " + ec.message());
  if (within(dir, fs::absolute(config.data_dir) / "queue")) {
    return fail(kExitFailed, "a backup cannot go inside the queue it copies: " + dir.string());
  }
  bool unreachable = false;
  Result<AdminResponse> r =
      admin_post(socket_path(config), "/v1/backup?dir=" + url_encode(dir.string()), &unreachable);
  if (!r) return fail(unreachable ? kExitUnreachable : kExitFailed, r.message());
  // The last line says how it ended; the ones before it were progress.
  std::string outcome = last_line(r->body);
  std::optional<JsonValue> answer = parse_json(outcome);
  if (r->status != 200 || !answer || !(*answer)["ok"].boolean) {
    std::string why = answer ? (*answer)["error"].text : "";
    if (why.empty()) why = "the daemon answered " + std::to_string(r->status) + " " + outcome;
    return fail(kExitFailed, "backup into " + dir.string() + " failed: " + why);
  }
  std::cout << "queue backed up into " << dir.string() << " (" << (dir / "queue").string()
            << ", manifest.json)\n";
  return kExitOk;
}

// The copy of one file, synced before the rename that makes the restore visible.
Status copy_synced(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::none, ec);
  if (ec) return Status::error("copying " + from.string() + ": " + ec.message());
  int fd = ::open(to.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    if (fd >= 0) ::close(fd);
    return Status::error("syncing " + to.string());
  }
  ::close(fd);
  return Status::ok();
}

void sync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// copy_tree - `from` into the new directory `to`, owned like `owner` when we are root (a
// restore run with sudo must leave files the daemon's user can open).
Status copy_tree(const fs::path& from, const fs::path& to, const struct stat& owner) {
  bool chown_to_owner = ::geteuid() == 0 && owner.st_uid != 0;
  auto own = [&](const fs::path& p) {
    if (chown_to_owner && ::lchown(p.c_str(), owner.st_uid, owner.st_gid) != 0) {
      return Status::error("chown " + p.string() + " failed");
    }
    return Status::ok();
  };
  std::error_code ec;
  fs::create_directory(to, ec);
  if (ec) return Status::error("cannot create " + to.string() + ": " + ec.message());
  ::chmod(to.c_str(), 0700);
  if (auto s = own(to); !s) return s;
  for (auto it = fs::recursive_directory_iterator(from, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    fs::path target = to / fs::relative(it->path(), from);
    if (it->is_directory()) {
      fs::create_directory(target, ec);
      if (ec) return Status::error("cannot create " + target.string() + ": " + ec.message());
    } else if (it->is_regular_file()) {
      if (auto s = copy_synced(it->path(), target); !s) return s;
    } else {
      continue;  // a checkpoint holds nothing else
    }
    if (auto s = own(target); !s) return s;
  }
  if (ec) return Status::error("reading " + from.string() + ": " + ec.message());
  sync_dir(to);
  return Status::ok();
}

std::string timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// check_backup - `dir` holds a finished backup: its manifest (written last) and a checkpoint
Status check_backup(const fs::path& dir) {
  std::error_code ec;
  fs::path backup_queue = dir / "queue";
  std::ifstream manifest(dir / "manifest.json");
  std::stringstream text;
  text << manifest.rdbuf();
  if (!manifest || text.str().find("\"format\":\"hato-backup\"") == std::string::npos) {
    return Status::error(dir.string() + " is not a complete hato backup (no manifest.json; " +
                         "an interrupted backup has none)");
  }
  if (!fs::exists(backup_queue / "CURRENT", ec)) {
    return Status::error(backup_queue.string() + " is not a RocksDB checkpoint");
  }
  return Status::ok();
}

// open_restored - opens the restored queue, which proves the copy whole, and counts its
// messages; then hands the files opening wrote (as root) to `owner`
Result<size_t> open_restored(const fs::path& live, const struct stat& owner) {
  size_t messages = 0;
  {
    auto store = queue::open_rocksdb_store({live.string()});
    if (!store) return Status::error("the restored queue does not open: " + store.message());
    Status walk = (*store)->for_each([&](const queue::StoredMessage&) {
      ++messages;
      return true;
    });
    if (!walk) return Status::error("reading the restored queue: " + walk.message());
  }
  std::error_code ec;
  if (::geteuid() == 0 && owner.st_uid != 0) {
    // Opening wrote a few files (a new WAL, OPTIONS) as root: hand them over too.
    for (auto it = fs::recursive_directory_iterator(live, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (::lchown(it->path().c_str(), owner.st_uid, owner.st_gid) != 0) {
        return Status::error("chown " + it->path().string() + " failed");
      }
    }
  }
  return messages;
}

int restore(const std::string& dir_arg, bool force, const conf::Config& config) {
  std::error_code ec;
  fs::path dir = fs::absolute(dir_arg, ec).lexically_normal();
  fs::path backup_queue = dir / "queue";
  if (Status s = check_backup(dir); !s) return fail(kExitFailed, s.message());

  // The daemon owns the queue while it runs; an answer on its socket means it does.
  bool unreachable = false;
  Result<AdminResponse> probe = admin_get(socket_path(config), "/v1/queue?limit=1", &unreachable);
  if (probe || !unreachable) {
    return fail(kExitFailed, "the daemon is running (its admin socket " + socket_path(config) +
                                 " answers); stop it before restoring");
  }

  fs::path data_dir = fs::absolute(config.data_dir).lexically_normal();
  fs::path live = data_dir / "queue";
  fs::path staging = data_dir / "queue.restoring";
  fs::create_directories(data_dir, ec);
  if (ec) return fail(kExitFailed, "cannot create " + data_dir.string() + ": " + ec.message());
  struct stat owner {};
  if (::stat(data_dir.c_str(), &owner) != 0) {
    return fail(kExitFailed, "cannot stat " + data_dir.string());
  }
  std::string aside;
  if (fs::exists(live, ec)) {
    if (!force) {
      return fail(kExitFailed, live.string() + " exists; --force moves it aside and restores");
    }
    aside = live.string() + ".replaced-" + timestamp();
  }
  fs::remove_all(staging, ec);  // left by an interrupted restore
  if (auto s = copy_tree(backup_queue, staging, owner); !s) {
    fs::remove_all(staging, ec);
    return fail(kExitFailed, "restore failed: " + s.message());
  }
  if (!aside.empty()) {
    fs::rename(live, aside, ec);
    if (ec) return fail(kExitFailed, "cannot move " + live.string() + " aside: " + ec.message());
  }
  fs::rename(staging, live, ec);
  if (ec) {
    std::error_code ignored;
    if (!aside.empty()) fs::rename(aside, live, ignored);  // put the old one back
    return fail(kExitFailed, "cannot rename " + staging.string() + ": " + ec.message());
  }
  sync_dir(data_dir);

  // The count tells the operator what came back.
  Result<size_t> messages = open_restored(live, owner);
  if (!messages) return fail(kExitFailed, messages.message());
  if (!aside.empty()) std::cout << "the old queue is now " << aside << "\n";
  std::cout << "restored " << *messages << " queued messages from " << dir.string() << " into "
            << live.string() << "\n";
  return kExitOk;
}

}  // namespace

int backup_command(const std::vector<std::string>& args, const conf::Config& config) {
  if (args.empty()) return usage();
  if (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  bool force = false;
  std::vector<std::string> operands;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--force" && args[0] == "restore") {
      force = true;
    } else if (args[i].starts_with("-")) {
      return usage("unknown option " + args[i]);
    } else {
      operands.push_back(args[i]);
    }
  }
  if (operands.size() != 1) return usage(args[0] + " takes one directory");
  if (args[0] == "create") return create(operands[0], config);
  if (args[0] == "restore") return restore(operands[0], force, config);
  return usage();
}

}  // namespace hato::cli
