// send_now.cc - see send_now.h.
#include "net/send_now.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

namespace hato::net {

void send_now(bufferevent* bev, std::string_view bytes) {
  if (bytes.empty()) return;
  evutil_socket_t fd = bufferevent_getfd(bev);
  if (fd >= 0 && bufferevent_get_underlying(bev) == nullptr &&
      bufferevent_openssl_get_ssl(bev) == nullptr &&
      evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    // EAGAIN, a socket still connecting, or an error: the bufferevent writes the rest or
    // reports the error through its event callback, as it would have anyway.
    if (n > 0) bytes.remove_prefix(static_cast<size_t>(n));
    if (bytes.empty()) return;
  }
  bufferevent_write(bev, bytes.data(), bytes.size());
}

void send_close_notify(bufferevent* bev) {
  SSL* ssl = bev ? bufferevent_openssl_get_ssl(bev) : nullptr;
  if (!ssl || !SSL_is_init_finished(ssl)) return;
  // With a socket BIO this writes to the socket; over STARTTLS it lands in the output of
  // the plain bufferevent below, which is written out now, as the connection is about to
  // be freed with it. Best effort: a peer that stopped reading gets a plain close.
  SSL_shutdown(ssl);
  ERR_clear_error();  // a failed shutdown must not be blamed on the next connection
  if (bufferevent* below = bufferevent_get_underlying(bev)) {
    evbuffer* out = bufferevent_get_output(below);
    evutil_socket_t fd = bufferevent_getfd(below);
    // A bufferevent keeps the start of its output frozen for everyone but itself.
    if (fd >= 0 && evbuffer_get_length(out) > 0 && evbuffer_unfreeze(out, 1) == 0) {
      evbuffer_write(out, fd);
      evbuffer_freeze(out, 1);
    }
  }
}

}  // namespace hato::net
