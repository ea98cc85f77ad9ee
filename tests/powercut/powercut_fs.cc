// powercut_fs - a FUSE passthrough that can lose what was never synced (issue 25).
//
// Usage: powercut_fs [--mode=normal|reorder|torn] [--seed=N] BACKING MOUNTPOINT [FUSE options]
//
// The backing directory holds the live names and the durable bytes of each file. What a
// power cut would lose is kept here instead:
//   - file data: the writes and truncations since a file's last fsync/fdatasync, in memory,
//     laid over the backing bytes on read (as the page cache would) and applied on sync;
//   - directory entries: for each directory, the entries touched (create, mknod, mkdir,
//     symlink, link, unlink, rmdir, rename) since its last fsync, with what each name held
//     before. A file whose durable name goes away keeps a hard link in .powercut-attic so
//     that a cut can bring it back.
// Writing "cut" to MOUNTPOINT/.powercut drops all of that: the backing directory is put back
// to the durable state and the mount shows only what was made durable. Other commands:
// "mode normal|reorder|torn", "seed N". Reading .powercut shows the mode, the counts and the
// faults.
//   normal:  every unsynced write is lost.
//   reorder: a random subset of each file's unsynced writes reaches the disk (in order),
//            as a disk that reorders writes within a file can do.
//   torn:    of each file's unsynced writes, the first one that starts on a 4 KiB boundary
//            reaches the disk as the first half of its first page; the rest are lost.
// Directory entries are all-or-nothing per directory: a cut reverts every unsynced entry.
// Ownership, modes and times are passed through and not modelled.
// Failing disks (EIO on sync, EIO/ENOSPC on write, slow syncs) are switched on and off
// through the same control file: see faults.h.
#define FUSE_USE_VERSION 35
#include <dirent.h>
#include <fcntl.h>
#include <fuse3/fuse.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "faults.h"

namespace {

constexpr const char* kControl = "/.powercut";
constexpr const char* kAttic = ".powercut-attic";
constexpr uint64_t kControlHandle = UINT64_MAX;
constexpr off_t kPage = 4096;

// An owned file descriptor.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

enum class Mode { kNormal, kReorder, kTorn };

// One unsynced change to a file: a write, or a truncation when `truncate` is set.
struct Op {
  off_t off = 0;
  std::string data;
  bool truncate = false;
};

// A file with unsynced changes. `fd` is our own descriptor on the backing file, so the
// changes can be applied on sync or at a cut wherever the file's names have moved.
struct PendingFile {
  UniqueFd fd;
  off_t size = 0;  // the size readers see
  std::vector<Op> ops;
};

// What a name in a directory held at the directory's last fsync.
struct Entry {
  bool present = false;
  ino_t ino = 0;
  bool is_dir = false;
};

struct State {
  std::mutex mu;
  std::string root;  // the backing directory
  Mode mode = Mode::kNormal;
  std::mt19937_64 rng{1};
  std::map<ino_t, PendingFile> files;
  std::map<ino_t, std::map<std::string, Entry>> dirs;  // by directory inode
  std::set<ino_t> attic;
  unsigned cuts = 0;
  powercut::Faults faults;
  // The path each open file (by descriptor) and directory (by DIR*) was opened under: with
  // nullpath_ok FUSE gives none to write and fsync, and the faults go by path.
  std::map<uint64_t, std::string> file_paths, dir_paths;
};

State* g = nullptr;

std::string backing(const std::string& path) {
  return g->root + path;
}
std::string attic_dir() {
  return g->root + "/" + kAttic;
}
std::string attic_path(ino_t ino) {
  return attic_dir() + "/" + std::to_string(ino);
}

bool hidden(const char* path) {
  std::string p = path ? path : "";
  std::string a = std::string("/") + kAttic;
  return p == a || p.rfind(a + "/", 0) == 0;
}

std::pair<std::string, std::string> split(const std::string& path) {
  auto slash = path.rfind('/');
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// touch - remember what `path` held at its directory's last fsync, before the first change.
int touch(const std::string& path) {
  auto [dir, name] = split(path);
  struct stat ds;
  if (lstat(backing(dir).c_str(), &ds) != 0) return -errno;
  auto& entries = g->dirs[ds.st_ino];
  if (entries.count(name)) return 0;
  Entry e;
  struct stat st;
  if (lstat(backing(path).c_str(), &st) == 0) {
    e.present = true;
    e.ino = st.st_ino;
    e.is_dir = S_ISDIR(st.st_mode);
  }
  entries[name] = e;
  return 0;
}

// preserve - before `path` loses its name: keep the file in the attic if that name is durable.
void preserve(const std::string& path) {
  auto [dir, name] = split(path);
  struct stat ds, st;
  if (lstat(backing(dir).c_str(), &ds) != 0 || lstat(backing(path).c_str(), &st) != 0) return;
  const Entry& e = g->dirs[ds.st_ino][name];
  if (!e.present || e.ino != st.st_ino || e.is_dir || g->attic.count(st.st_ino)) return;
  mkdir(attic_dir().c_str(), 0700);
  if (link(backing(path).c_str(), attic_path(st.st_ino).c_str()) == 0) g->attic.insert(st.st_ino);
}

// pending - the unsynced state of the file open as `fd`, created on first use.
PendingFile* pending(int fd, bool create) {
  struct stat st;
  if (fstat(fd, &st) != 0) return nullptr;
  auto it = g->files.find(st.st_ino);
  if (it != g->files.end()) return &it->second;
  if (!create) return nullptr;
  PendingFile& f = g->files[st.st_ino];
  f.fd = UniqueFd(dup(fd));
  f.size = st.st_size;
  return &f;
}

int apply(int fd, const Op& op, size_t len) {
  if (op.truncate) return ftruncate(fd, op.off) == 0 ? 0 : -errno;
  return pwrite(fd, op.data.data(), len, op.off) == static_cast<ssize_t>(len) ? 0 : -EIO;
}

// sync_file - make the file's unsynced changes durable (apply them to the backing file).
int sync_file(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  auto it = g->files.find(st.st_ino);
  if (it == g->files.end()) return 0;
  for (const Op& op : it->second.ops) {
    if (int rc = apply(it->second.fd.get(), op, op.data.size()); rc != 0) return rc;
  }
  g->files.erase(it);
  return 0;
}

// drop_attic_unreferenced - the attic keeps only files some unsynced directory may bring back.
void drop_attic_unreferenced() {
  std::set<ino_t> wanted;
  for (const auto& [dir, entries] : g->dirs) {
    for (const auto& [name, e] : entries) {
      if (e.present && !e.is_dir) wanted.insert(e.ino);
    }
  }
  for (auto it = g->attic.begin(); it != g->attic.end();) {
    if (wanted.count(*it)) {
      ++it;
      continue;
    }
    unlink(attic_path(*it).c_str());
    it = g->attic.erase(it);
  }
}

// ---- the cut ----

// cut_files - what reaches the disk of each file's unsynced writes, by mode.
void cut_files() {
  for (auto& [ino, f] : g->files) {
    bool torn_done = false;
    for (const Op& op : f.ops) {
      if (g->mode == Mode::kReorder && g->rng() % 2 == 0) {
        (void)apply(f.fd.get(), op, op.data.size());
      } else if (g->mode == Mode::kTorn && !torn_done && !op.truncate && op.off % kPage == 0 &&
                 !op.data.empty()) {
        torn_done = true;
        (void)apply(f.fd.get(), op, std::min<size_t>(op.data.size(), kPage) / 2);
      }
    }
  }
  g->files.clear();
}

// find_dir - the backing path of directory `ino` under `base`, searching the whole tree.
std::optional<std::string> find_dir(const std::string& base, ino_t ino, bool skip_attic) {
  struct stat st;
  if (lstat(base.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  if (st.st_ino == ino) return base;
  DIR* d = opendir(base.c_str());
  if (!d) return std::nullopt;
  std::vector<std::string> subdirs;
  while (dirent* de = readdir(d)) {
    std::string n = de->d_name;
    if (n == "." || n == ".." || (skip_attic && n == kAttic)) continue;
    if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) subdirs.push_back(base + "/" + n);
  }
  closedir(d);
  for (const auto& s : subdirs) {
    if (auto found = find_dir(s, ino, false)) return found;
  }
  return std::nullopt;
}

std::optional<std::string> locate_dir(ino_t ino) {
  if (auto p = find_dir(g->root, ino, true)) return p;
  return find_dir(attic_dir() + "/trash", ino, false);
}

void remove_tree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = opendir(path.c_str())) {
      std::vector<std::string> names;
      while (dirent* de = readdir(d)) {
        std::string n = de->d_name;
        if (n != "." && n != "..") names.push_back(n);
      }
      closedir(d);
      for (const auto& n : names) remove_tree(path + "/" + n);
    }
    rmdir(path.c_str());
  } else {
    unlink(path.c_str());
  }
}

// cut_names_away - move every entry that is not durable out of the tree, into the trash.
void cut_names_away() {
  std::string trash = attic_dir() + "/trash";
  mkdir(attic_dir().c_str(), 0700);
  mkdir(trash.c_str(), 0700);
  unsigned n = 0;
  for (const auto& [dir, entries] : g->dirs) {
    auto where = locate_dir(dir);
    if (!where) continue;  // removed, so it was empty when removed
    for (const auto& [name, e] : entries) {
      std::string p = *where + "/" + name;
      struct stat st;
      if (lstat(p.c_str(), &st) != 0) continue;
      if (e.present && e.ino == st.st_ino) continue;
      rename(p.c_str(), (trash + "/" + std::to_string(n++)).c_str());
    }
  }
}

// restore_entry - put the durable entry `e` back at `p`; a recreated directory's new inode
// is recorded in `moved` so its own durable entries can follow.
void restore_entry(const std::string& p, const Entry& e, std::map<ino_t, ino_t>& moved) {
  struct stat st;
  if (lstat(p.c_str(), &st) == 0) return;
  if (!e.is_dir) {
    if (link(attic_path(e.ino).c_str(), p.c_str()) != 0) {
      fprintf(stderr, "powercut_fs: cannot restore %s (inode %lu): %s\n", p.c_str(),
              static_cast<unsigned long>(e.ino), strerror(errno));
    }
    return;
  }
  if (auto from = locate_dir(e.ino)) {
    rename(from->c_str(), p.c_str());
  } else if (mkdir(p.c_str(), 0755) == 0 && lstat(p.c_str(), &st) == 0) {
    moved[e.ino] = st.st_ino;
  }
}

// cut_names_back - put back every durable entry; parents first (a directory whose path is
// not known yet waits for a later pass).
void cut_names_back() {
  std::map<ino_t, ino_t> moved;
  std::set<ino_t> done;
  for (bool progress = true; progress;) {
    progress = false;
    for (const auto& [dir, entries] : g->dirs) {
      if (done.count(dir)) continue;
      auto m = moved.find(dir);
      auto where = locate_dir(m == moved.end() ? dir : m->second);
      if (!where) continue;
      for (const auto& [name, e] : entries) {
        if (e.present) restore_entry(*where + "/" + name, e, moved);
      }
      done.insert(dir);
      progress = true;
    }
  }
}

void cut() {
  cut_files();
  cut_names_away();
  cut_names_back();
  remove_tree(attic_dir());
  g->dirs.clear();
  g->attic.clear();
  ++g->cuts;
}

int command(const std::string& text) {
  std::string c = text;
  while (!c.empty() && (c.back() == '\n' || c.back() == ' ')) c.pop_back();
  if (int rc = g->faults.command(c); rc != 1) return rc;
  if (c == "cut") {
    cut();
  } else if (c == "mode normal") {
    g->mode = Mode::kNormal;
  } else if (c == "mode reorder") {
    g->mode = Mode::kReorder;
  } else if (c == "mode torn") {
    g->mode = Mode::kTorn;
  } else if (c.rfind("seed ", 0) == 0) {
    g->rng.seed(std::stoull(c.substr(5)));
  } else {
    return -EINVAL;
  }
  return 0;
}

std::string status() {
  const char* m = g->mode == Mode::kNormal    ? "normal"
                  : g->mode == Mode::kReorder ? "reorder"
                                              : "torn";
  return std::string("mode=") + m + " unsynced_files=" + std::to_string(g->files.size()) +
         " unsynced_dirs=" + std::to_string(g->dirs.size()) + " cuts=" + std::to_string(g->cuts) +
         g->faults.status() + "\n";
}

// ---- FUSE operations ----

using Lock = std::lock_guard<std::mutex>;

void* pc_init(fuse_conn_info*, fuse_config* cfg) {
  // No attribute or name caching: after a cut the kernel must ask again.
  cfg->use_ino = 1;
  cfg->hard_remove = 1;
  cfg->nullpath_ok = 1;
  cfg->entry_timeout = 0;
  cfg->attr_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->kernel_cache = 0;
  cfg->auto_cache = 0;
  return nullptr;
}

// Unmounting is switching the power off: the backing directory keeps the durable state.
void pc_destroy(void*) {
  Lock l(g->mu);
  cut();
}

int pc_getattr(const char* path, struct stat* st, fuse_file_info* fi) {
  Lock l(g->mu);
  if (path && strcmp(path, kControl) == 0) {
    memset(st, 0, sizeof(*st));
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    return 0;
  }
  if (hidden(path)) return -ENOENT;
  int rc = fi && fi->fh != kControlHandle ? fstat(static_cast<int>(fi->fh), st)
                                          : lstat(backing(path).c_str(), st);
  if (rc != 0) return -errno;
  if (auto it = g->files.find(st->st_ino); it != g->files.end()) st->st_size = it->second.size;
  return 0;
}

int pc_readlink(const char* path, char* buf, size_t size) {
  Lock l(g->mu);
  ssize_t n = readlink(backing(path).c_str(), buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = '\0';
  return 0;
}

// Each name-changing operation first records the durable state of the names it touches.
int pc_mknod(const char* path, mode_t mode, dev_t dev) {
  Lock l(g->mu);
  if (hidden(path)) return -EPERM;
  if (int rc = touch(path); rc != 0) return rc;
  return mknod(backing(path).c_str(), mode, dev) == 0 ? 0 : -errno;
}

int pc_mkdir(const char* path, mode_t mode) {
  Lock l(g->mu);
  if (hidden(path)) return -EPERM;
  if (int rc = touch(path); rc != 0) return rc;
  return mkdir(backing(path).c_str(), mode) == 0 ? 0 : -errno;
}

void forget_if_gone(ino_t ino) {
  struct stat st;
  if (g->attic.count(ino)) return;
  auto it = g->files.find(ino);
  if (it != g->files.end() && fstat(it->second.fd.get(), &st) == 0 && st.st_nlink == 0) {
    g->files.erase(it);
  }
}

int pc_unlink(const char* path) {
  Lock l(g->mu);
  if (hidden(path)) return -ENOENT;
  if (int rc = touch(path); rc != 0) return rc;
  preserve(path);
  struct stat st;
  if (lstat(backing(path).c_str(), &st) != 0) return -errno;
  if (unlink(backing(path).c_str()) != 0) return -errno;
  forget_if_gone(st.st_ino);
  return 0;
}

int pc_rmdir(const char* path) {
  Lock l(g->mu);
  if (hidden(path)) return -ENOENT;
  if (int rc = touch(path); rc != 0) return rc;
  return rmdir(backing(path).c_str()) == 0 ? 0 : -errno;
}

int pc_symlink(const char* target, const char* path) {
  Lock l(g->mu);
  if (hidden(path)) return -EPERM;
  if (int rc = touch(path); rc != 0) return rc;
  return symlink(target, backing(path).c_str()) == 0 ? 0 : -errno;
}

int pc_rename(const char* from, const char* to, unsigned int flags) {
  Lock l(g->mu);
  if (hidden(from) || hidden(to)) return -EPERM;
  if (flags & RENAME_EXCHANGE) return -EINVAL;  // not modelled
  if (int rc = touch(from); rc != 0) return rc;
  if (int rc = touch(to); rc != 0) return rc;
  preserve(from);
  preserve(to);
  struct stat st;
  bool replaced = lstat(backing(to).c_str(), &st) == 0;
  if (renameat2(AT_FDCWD, backing(from).c_str(), AT_FDCWD, backing(to).c_str(), flags) != 0) {
    return -errno;
  }
  if (replaced) forget_if_gone(st.st_ino);
  return 0;
}

int pc_link(const char* from, const char* to) {
  Lock l(g->mu);
  if (hidden(from) || hidden(to)) return -EPERM;
  if (int rc = touch(to); rc != 0) return rc;
  return link(backing(from).c_str(), backing(to).c_str()) == 0 ? 0 : -errno;
}

int pc_chmod(const char* path, mode_t mode, fuse_file_info* fi) {
  Lock l(g->mu);
  int rc = fi ? fchmod(static_cast<int>(fi->fh), mode) : chmod(backing(path).c_str(), mode);
  return rc == 0 ? 0 : -errno;
}

int pc_chown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) {
  Lock l(g->mu);
  int rc =
      fi ? fchown(static_cast<int>(fi->fh), uid, gid) : lchown(backing(path).c_str(), uid, gid);
  return rc == 0 ? 0 : -errno;
}

// A truncation is a change to the file like a write: unsynced until fsync.
int truncate_fd(int fd, off_t size) {
  PendingFile* f = pending(fd, true);
  if (!f) return -errno;
  Op op;
  op.off = size;
  op.truncate = true;
  f->ops.push_back(std::move(op));
  f->size = size;
  return 0;
}

int pc_truncate(const char* path, off_t size, fuse_file_info* fi) {
  Lock l(g->mu);
  if (path && strcmp(path, kControl) == 0) return 0;
  if (fi) return truncate_fd(static_cast<int>(fi->fh), size);
  UniqueFd fd(open(backing(path).c_str(), O_WRONLY));
  if (fd.get() < 0) return -errno;
  return truncate_fd(fd.get(), size);
}

int open_backing(const char* path, fuse_file_info* fi, mode_t mode, bool creating) {
  struct stat st;
  bool existed = lstat(backing(path).c_str(), &st) == 0;
  // The kernel gives each write its offset; O_APPEND would make our pwrite ignore it.
  int flags = fi->flags & ~(O_TRUNC | O_APPEND | O_DIRECT);
  int fd = creating ? open(backing(path).c_str(), flags | O_CREAT, mode)
                    : open(backing(path).c_str(), flags);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  g->file_paths[fi->fh] = path;
  if (!existed) {
    // A new file: nothing unsynced can belong to it (its inode number may be reused).
    if (fstat(fd, &st) == 0) g->files.erase(st.st_ino);
  } else if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY) {
    return truncate_fd(fd, 0);
  }
  return 0;
}

int pc_open(const char* path, fuse_file_info* fi) {
  Lock l(g->mu);
  if (strcmp(path, kControl) == 0) {
    fi->fh = kControlHandle;
    fi->direct_io = 1;
    return 0;
  }
  if (hidden(path)) return -ENOENT;
  return open_backing(path, fi, 0, false);
}

int pc_create(const char* path, mode_t mode, fuse_file_info* fi) {
  Lock l(g->mu);
  if (hidden(path) || strcmp(path, kControl) == 0) return -EPERM;
  if (int rc = touch(path); rc != 0) return rc;
  return open_backing(path, fi, mode, true);
}

int pc_read(const char*, char* buf, size_t size, off_t off, fuse_file_info* fi) {
  Lock l(g->mu);
  if (fi->fh == kControlHandle) {
    std::string s = status();
    if (off >= static_cast<off_t>(s.size())) return 0;
    size_t n = std::min(size, s.size() - off);
    memcpy(buf, s.data() + off, n);
    return static_cast<int>(n);
  }
  int fd = static_cast<int>(fi->fh);
  memset(buf, 0, size);
  ssize_t got = pread(fd, buf, size, off);
  if (got < 0) return -errno;
  PendingFile* f = pending(fd, false);
  if (!f) return static_cast<int>(got);
  // Lay the unsynced changes over the durable bytes, in the order they were made.
  off_t end = off + static_cast<off_t>(size);
  for (const Op& op : f->ops) {
    if (op.truncate) {
      if (op.off < end)
        memset(buf + std::max<off_t>(op.off - off, 0), 0, end - std::max(op.off, off));
      continue;
    }
    off_t a = std::max(op.off, off), b = std::min(op.off + static_cast<off_t>(op.data.size()), end);
    if (a < b) memcpy(buf + (a - off), op.data.data() + (a - op.off), b - a);
  }
  if (f->size <= off) return 0;
  return static_cast<int>(std::min<off_t>(size, f->size - off));
}

int pc_write(const char*, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  Lock l(g->mu);
  if (fi->fh == kControlHandle) {
    int rc;
    try {
      rc = command(std::string(buf, size));
    } catch (const std::exception&) {  // a number that is none
      rc = -EINVAL;
    }
    return rc == 0 ? static_cast<int>(size) : rc;
  }
  if (powercut::Faults::under(g->file_paths[fi->fh], g->faults.fail_write)) {
    return -g->faults.write_error;
  }
  PendingFile* f = pending(static_cast<int>(fi->fh), true);
  if (!f) return -errno;
  Op op;
  op.off = off;
  op.data.assign(buf, size);
  f->ops.push_back(std::move(op));
  f->size = std::max(f->size, off + static_cast<off_t>(size));
  return static_cast<int>(size);
}

int pc_statfs(const char*, struct statvfs* st) {
  return statvfs(g->root.c_str(), st) == 0 ? 0 : -errno;
}

int pc_release(const char*, fuse_file_info* fi) {
  // Closing syncs nothing: the unsynced changes stay with the inode.
  Lock l(g->mu);
  if (fi->fh != kControlHandle) {
    g->file_paths.erase(fi->fh);
    close(static_cast<int>(fi->fh));
  }
  return 0;
}

// A slow disk: the sync waits first, without the lock, so other calls go on meanwhile.
void sync_delay() {
  unsigned ms;
  {
    Lock l(g->mu);
    ms = g->faults.sync_delay_ms;
  }
  if (ms) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

int pc_fsync(const char*, int, fuse_file_info* fi) {
  if (fi->fh == kControlHandle) return 0;
  sync_delay();
  Lock l(g->mu);
  // A failed sync makes nothing durable: the changes stay unsynced and a cut loses them.
  if (powercut::Faults::under(g->file_paths[fi->fh], g->faults.fail_sync)) return -EIO;
  return sync_file(static_cast<int>(fi->fh));
}

int pc_opendir(const char* path, fuse_file_info* fi) {
  Lock l(g->mu);
  if (hidden(path)) return -ENOENT;
  DIR* d = opendir(backing(path).c_str());
  if (!d) return -errno;
  fi->fh = reinterpret_cast<uint64_t>(d);
  g->dir_paths[fi->fh] = path;
  return 0;
}

int pc_readdir(const char* path, void* buf, fuse_fill_dir_t filler, off_t, fuse_file_info* fi,
               fuse_readdir_flags) {
  Lock l(g->mu);
  DIR* d = reinterpret_cast<DIR*>(fi->fh);
  rewinddir(d);
  bool root = path && strcmp(path, "/") == 0;
  while (dirent* de = readdir(d)) {
    if (root && strcmp(de->d_name, kAttic) == 0) continue;
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_ino = de->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(de->d_type));
    if (filler(buf, de->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0))) break;
  }
  return 0;
}

int pc_releasedir(const char*, fuse_file_info* fi) {
  Lock l(g->mu);
  g->dir_paths.erase(fi->fh);
  closedir(reinterpret_cast<DIR*>(fi->fh));
  return 0;
}

// fsync of a directory makes its entries durable.
int pc_fsyncdir(const char*, int, fuse_file_info* fi) {
  sync_delay();
  Lock l(g->mu);
  if (powercut::Faults::under(g->dir_paths[fi->fh], g->faults.fail_sync)) return -EIO;
  struct stat st;
  if (fstat(dirfd(reinterpret_cast<DIR*>(fi->fh)), &st) != 0) return -errno;
  g->dirs.erase(st.st_ino);
  drop_attic_unreferenced();
  return 0;
}

int pc_access(const char* path, int mask) {
  Lock l(g->mu);
  if (strcmp(path, kControl) == 0) return 0;
  if (hidden(path)) return -ENOENT;
  return access(backing(path).c_str(), mask) == 0 ? 0 : -errno;
}

int pc_utimens(const char* path, const struct timespec tv[2], fuse_file_info* fi) {
  Lock l(g->mu);
  if (path && strcmp(path, kControl) == 0) return 0;
  int rc = fi ? futimens(static_cast<int>(fi->fh), tv)
              : utimensat(AT_FDCWD, backing(path).c_str(), tv, AT_SYMLINK_NOFOLLOW);
  return rc == 0 ? 0 : -errno;
}

// Preallocation changes no bytes (RocksDB uses FALLOC_FL_KEEP_SIZE); growing the size is a
// change like a truncation.
int pc_fallocate(const char*, int mode, off_t off, off_t len, fuse_file_info* fi) {
  Lock l(g->mu);
  if (!fi || fi->fh == kControlHandle) return -EOPNOTSUPP;
  if (mode == FALLOC_FL_KEEP_SIZE) return 0;
  if (mode != 0) return -EOPNOTSUPP;
  int fd = static_cast<int>(fi->fh);
  PendingFile* f = pending(fd, false);
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  off_t size = f ? f->size : st.st_size;
  return off + len > size ? truncate_fd(fd, off + len) : 0;
}

fuse_operations operations() {
  fuse_operations ops;
  memset(&ops, 0, sizeof(ops));
  ops.init = pc_init;
  ops.destroy = pc_destroy;
  ops.getattr = pc_getattr;
  ops.readlink = pc_readlink;
  ops.mknod = pc_mknod;
  ops.mkdir = pc_mkdir;
  ops.unlink = pc_unlink;
  ops.rmdir = pc_rmdir;
  ops.symlink = pc_symlink;
  ops.rename = pc_rename;
  ops.link = pc_link;
  ops.chmod = pc_chmod;
  ops.chown = pc_chown;
  ops.truncate = pc_truncate;
  ops.open = pc_open;
  ops.create = pc_create;
  ops.read = pc_read;
  ops.write = pc_write;
  ops.statfs = pc_statfs;
  ops.release = pc_release;
  ops.fsync = pc_fsync;
  ops.opendir = pc_opendir;
  ops.readdir = pc_readdir;
  ops.releasedir = pc_releasedir;
  ops.fsyncdir = pc_fsyncdir;
  ops.access = pc_access;
  ops.utimens = pc_utimens;
  ops.fallocate = pc_fallocate;
  return ops;
}

}  // namespace

int main(int argc, char** argv) {
  State state;
  g = &state;
  std::vector<char*> fuse_args{argv[0]};
  std::string root;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--mode=", 0) == 0) {
      if (command("mode " + a.substr(7)) != 0) {
        fprintf(stderr, "powercut_fs: unknown mode %s\n", a.c_str());
        return 2;
      }
    } else if (a.rfind("--seed=", 0) == 0) {
      state.rng.seed(std::stoull(a.substr(7)));
    } else if (root.empty()) {
      root = a;  // BACKING comes first; everything after it is for FUSE
    } else {
      fuse_args.push_back(argv[i]);
    }
  }
  if (root.empty() || root[0] == '-') {
    fprintf(stderr,
            "usage: powercut_fs [--mode=normal|reorder|torn] [--seed=N] BACKING MOUNTPOINT "
            "[FUSE options]\n");
    return 2;
  }
  char* real = realpath(root.c_str(), nullptr);
  if (!real) {
    fprintf(stderr, "powercut_fs: %s: %s\n", root.c_str(), strerror(errno));
    return 2;
  }
  state.root = real;
  free(real);
  if (state.root == "/") state.root.clear();
  remove_tree(attic_dir());  // a previous run's attic: that run ended in a "power cut"
  fuse_operations ops = operations();
  return fuse_main(static_cast<int>(fuse_args.size()), fuse_args.data(), &ops, nullptr);
}
