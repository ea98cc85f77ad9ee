// send_now.h - writing to a bufferevent without waiting for the next loop turn.
#pragma once

#include <event2/bufferevent.h>

#include <string_view>

namespace hato::relay {

// Writes `bytes` to `bev`. On a plain TCP bufferevent with nothing queued ahead, the bytes go
// straight to the socket with one send(2), and only what the kernel did not take is queued:
// a reply then leaves at once, without an EPOLLOUT registration, a loop turn and its removal
// (three system calls per reply through bufferevent_write alone). TLS bufferevents, and any
// with bytes still queued, take the ordinary path, so the order of bytes never changes.
void send_now(bufferevent* bev, std::string_view bytes);

}  // namespace hato::relay
