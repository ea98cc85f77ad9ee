// files.cc - temp file, fsync, rename, fsync of the directory.
#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"

namespace hato {

namespace {

std::string parent_dir(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

Status write_file_atomically(const std::string& path, const std::string& text, mode_t mode) {
  std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (fd.get() < 0) return Status::error("cannot write " + tmp + ": " + std::strerror(errno));
  int err = ::fchmod(fd.get(), mode) == 0 ? 0 : errno;  // the umask may only take bits away
  for (size_t done = 0; err == 0 && done < text.size();) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) err = n < 0 ? errno : EIO;
    if (n > 0) done += static_cast<size_t>(n);
  }
  if (err == 0 && ::fsync(fd.get()) != 0) err = errno;
  if (::close(fd.release()) != 0 && err == 0) err = errno;
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return Status::error("cannot write " + path + ": " + std::strerror(err));
  }
  // The rename is durable only once the directory entry is.
  return sync_dir(parent_dir(path));
}

Status sync_dir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0)
    return Status::error("cannot sync the directory " + dir + ": " + std::strerror(errno));
  return Status::ok();
}

Status make_dirs_durably(const std::string& path, mode_t mode) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    std::string parent = !partial.empty() ? partial : path[0] == '/' ? "/" : ".";
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), mode) == 0) {
      if (auto s = sync_dir(parent); !s) return s;
    } else if (errno != EEXIST) {
      return Status::error("cannot create " + partial + ": " + std::strerror(errno));
    }
  }
  return Status::ok();
}

}  // namespace hato
