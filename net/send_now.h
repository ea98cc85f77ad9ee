// send_now.h - writing to a bufferevent without waiting for the next loop turn.
#pragma once

#include <event2/bufferevent.h>

#include <string_view>

namespace hato::net {

// Writes `bytes` to `bev`. On a plain TCP bufferevent with nothing queued ahead, the bytes go
// straight to the socket with one send(2), and only what the kernel did not take is queued:
// a reply then leaves at once, without an EPOLLOUT registration, a loop turn and its removal
// (three system calls per reply through bufferevent_write alone). TLS bufferevents, and any
// with bytes still queued, take the ordinary path, so the order of bytes never changes.
void send_now(bufferevent* bev, std::string_view bytes);

// Ends TLS on `bev` cleanly before it is freed: sends close_notify (SSL_shutdown), so the
// peer can tell the end of the session from a cut connection (Exim logs "TLS connection
// was non-properly terminated" without it). Call once the output has been flushed. The
// alert goes straight to the socket, also when TLS runs as a filter over a plain
// bufferevent (STARTTLS); the peer's own close_notify is not waited for (RFC 8446 6.1
// allows closing at once). No-op for plain connections and unfinished handshakes.
void send_close_notify(bufferevent* bev);

}  // namespace hato::net
