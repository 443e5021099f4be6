#include "store/env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace kvs::store {

namespace {

Status errno_status(const std::string& what, const std::string& path) {
  return io_error(what + " " + path + ": " + std::strerror(errno));
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override { close(); }
  Status append(std::span<const std::byte> data) override {
    const std::byte* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return errno_status("write", path_);
      p += n;
      left -= static_cast<size_t>(n);
    }
    return Status::ok();
  }
  Status sync() override { return ::fdatasync(fd_) == 0 ? Status::ok() : errno_status("fdatasync", path_); }
  Status close() override {
    if (fd_ < 0) return Status::ok();
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? Status::ok() : errno_status("close", path_);
  }

 private:
  int fd_;
  std::string path_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> create(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno_status("open", path);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path));
  }
  Status read_at(const std::string& path, uint64_t offset, std::span<std::byte> out) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_status("open", path);
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        Status st = n == 0 ? corrupt("short read of " + path) : errno_status("pread", path);
        ::close(fd);
        return st;
      }
      done += static_cast<size_t>(n);
    }
    ::close(fd);
    return Status::ok();
  }
  Result<uint64_t> file_size(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return errno_status("stat", path);
    return static_cast<uint64_t>(st.st_size);
  }
  Result<std::vector<std::string>> list(const std::string& dir) override {
    std::error_code ec;
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.is_regular_file()) out.push_back(e.path().filename().string());
    if (ec) return io_error("listing " + dir + ": " + ec.message());
    return out;
  }
  Status remove(const std::string& path) override {
    return ::unlink(path.c_str()) == 0 ? Status::ok() : errno_status("unlink", path);
  }
  Status make_dirs(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return io_error("creating " + dir + ": " + ec.message());
    return Status::ok();
  }
};

}  // namespace

Env* Env::posix() {
  static PosixEnv env;
  return &env;
}

}  // namespace kvs::store
