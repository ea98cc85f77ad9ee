// file_watch.cc - see file_watch.h.
#include "common/file_watch.h"

#include <sys/stat.h>

#include "common/log.h"

namespace hato {

std::string file_stamp(const std::vector<std::string>& paths) {
  std::string out;
  for (const auto& path : paths) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return "";
    out += std::to_string(st.st_ino) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_size) + ";";
  }
  return out;
}

FileWatch::FileWatch(Loop& loop, std::string what, std::function<Status()> reload,
                     std::chrono::milliseconds every)
    : timer_(loop, [this] { check(); }),
      what_(std::move(what)),
      reload_(std::move(reload)),
      every_(every) {}

void FileWatch::watch(std::vector<std::string> paths) {
  paths_ = std::move(paths);
  seen_ = file_stamp(paths_);
  failed_.clear();
  if (paths_.empty()) {
    timer_.cancel();
  } else {
    timer_.arm(every_);
  }
}

void FileWatch::check() {
  if (paths_.empty()) return;
  timer_.arm(every_);
  std::string now = file_stamp(paths_);
  if (now.empty() || now == seen_ || now == failed_) return;
  if (auto s = reload_(); !s) {
    log::error(what_ + " not reloaded", {{"file", paths_.front()}, {"reason", s.message()}});
    failed_ = now;  // logged once; tried again after the next change
    return;
  }
  seen_ = now;
}

}  // namespace hato
