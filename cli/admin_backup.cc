// admin_backup.cc - POST /v1/backup?dir=PATH: a consistent copy of the queue, made on a thread
// of its own while a Stream tells the client how it goes (admin_server.h).
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <utility>

#include "cli/admin_impl.h"
#include "common/log.h"

namespace hato::cli {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

// A checkpoint running on its own thread; `done` hands `status` over to the loop.
struct BackupJob {
  std::string dir;
  Status status = Status::ok();
  std::atomic<bool> done{false};
  Clock::time_point started = Clock::now();
};

namespace {

constexpr timeval kBackupPoll = {0, 100 * 1000};
constexpr unsigned kBackupPollsPerProgress = 10;  // a progress line a second

// prepare_backup_dir - an empty directory to copy into, made if need be: never over another
// backup, whose files a checkpoint would refuse to replace anyway, halfway through.
Status prepare_backup_dir(const std::string& dir) {
  std::error_code ec;
  bool exists = std::filesystem::exists(dir, ec);
  if (ec) return Status::error(dir + ": " + ec.message());
  if (exists) {
    if (!std::filesystem::is_directory(dir, ec)) {
      return Status::error(dir + " exists and is not a directory");
    }
    if (!std::filesystem::is_empty(dir, ec) || ec) {
      return Status::error(dir + " is not empty; back up into a new directory");
    }
    return Status::ok();
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::error("cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);  // the copy holds everyone's queued mail
  return Status::ok();
}

// write_manifest - manifest.json, written last and synced: a backup directory that has one is
// complete. `hato backup restore` reads it.
Status write_manifest(const std::string& dir) {
  std::string body = "{\"format\":\"hato-backup\",\"version\":1,\"created\":";
  log::append_json_string(body, log::rfc3339(log::now_ms()));
  body += ",\"queue\":\"queue\"}\n";
  std::string path = dir + "/manifest.json";
  std::string tmp = path + ".tmp";
  auto failed = [&](const std::string& what) {
    return Status::error(what + " " + tmp + ": " + errno_text(errno));
  };
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return failed("cannot create");
  for (size_t off = 0; off < body.size();) {
    ssize_t n = ::write(fd.get(), body.data() + off, body.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return failed("cannot write");
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return failed("cannot sync");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return failed("cannot rename");
  UniqueFd parent(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (parent.get() >= 0) ::fsync(parent.get());
  return Status::ok();
}

}  // namespace

// POST /v1/backup?dir=PATH: the queue checkpointed into PATH/queue, then PATH/manifest.json.
// The copy runs on a thread of its own: a flush, or a full copy when PATH is on another file
// system, takes longer than the loop may stall. The answer is JSON lines, a progress line a
// second (so the client's idle timeout never fires) and then {"ok":true,...} or {"error":...}.
class AdminServer::Impl::Backup : public Stream {
 public:
  Backup(Impl& server, evhttp_request* req, std::shared_ptr<BackupJob> job)
      : Stream(server, req), job_(std::move(job)) {}

 protected:
  void start() override {
    start_reply("application/x-ndjson");
    poll_.reset(evtimer_new(server_.loop.base(), &Backup::on_poll, this));
    if (!poll_) {
      send_chunk(error_json("out of memory (the backup goes on; see the log)"));
      end();
      return;
    }
    evtimer_add(poll_.get(), &kBackupPoll);
  }

 private:
  static void on_poll(evutil_socket_t, short, void* arg) { static_cast<Backup*>(arg)->poll(); }

  void poll() {
    if (!job_->done.load(std::memory_order_acquire)) {
      if (++polls_ % kBackupPollsPerProgress == 0) send_chunk("{\"progress\":\"copying\"}\n");
      evtimer_add(poll_.get(), &kBackupPoll);
      return;
    }
    if (!job_->status) {
      send_chunk(error_json(job_->status.message()));
    } else {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - job_->started);
      std::string line = "{\"ok\":true,\"dir\":";
      log::append_json_string(line, job_->dir);
      line += ",\"ms\":" + std::to_string(ms.count()) + "}\n";
      send_chunk(line);
    }
    end();  // deletes this, and the timer that is calling: allowed for a one-shot event
  }

  std::shared_ptr<BackupJob> job_;
  EventPtr poll_;
  unsigned polls_ = 0;
};

void AdminServer::Impl::backup(evhttp_request* req, const RouteArgs& args) {
  std::string dir;
  bool read = read_query(req, args.query, [&](std::string_view key, std::string_view value) {
    if (key != "dir") return unknown_parameter(key);
    dir = value;
    return std::string();
  });
  if (!read) return;
  // Relative to what? The daemon's working directory is nobody's business.
  if (dir.empty() || dir[0] != '/') {
    send_error(req, HTTP_BADREQUEST, "Bad Request", "dir must be an absolute path");
    return;
  }
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (backup_job && !backup_job->done.load(std::memory_order_acquire)) {
    send_error(req, kHttpConflict, "Conflict", "a backup into " + backup_job->dir + " is running");
    return;
  }
  if (backup_thread.joinable()) backup_thread.join();  // finished already: at once
  if (Status s = prepare_backup_dir(dir); !s) {
    send_error(req, kHttpConflict, "Conflict", s.message());
    return;
  }
  auto job = std::make_shared<BackupJob>();
  job->dir = dir;
  log::info("backup started", {{"dir", dir}});
  backup_thread = std::thread([job, &store = store] {
    Status s = store.checkpoint(job->dir + "/queue");
    if (s) s = write_manifest(job->dir);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - job->started);
    if (s) {
      log::info("backup done", {{"dir", job->dir}, {"ms", std::to_string(ms.count())}});
    } else {
      log::error("backup failed", {{"dir", job->dir}, {"reason", s.message()}});
    }
    job->status = std::move(s);
    job->done.store(true, std::memory_order_release);
  });
  backup_job = std::move(job);
  run(std::make_unique<Backup>(*this, req, backup_job));
}

}  // namespace hato::cli
