// event_handles.h - one owner type per libevent handle, so no class frees one by hand.
//
// The structs are only declared here: a user of an owner needs no libevent header for it.
#pragma once

#include <memory>

struct bufferevent;
struct event;
struct evbuffer;
struct evconnlistener;
struct evhttp;

namespace hato::net {

struct BuffereventFree {
  void operator()(bufferevent* bev) const;
};
struct EventFree {
  void operator()(event* ev) const;
};
struct EvbufferFree {
  void operator()(evbuffer* buffer) const;
};
struct EvconnlistenerFree {
  void operator()(evconnlistener* listener) const;
};
struct EvhttpFree {
  void operator()(evhttp* http) const;
};

using BuffereventPtr = std::unique_ptr<bufferevent, BuffereventFree>;
using EventPtr = std::unique_ptr<event, EventFree>;
using EvbufferPtr = std::unique_ptr<evbuffer, EvbufferFree>;
using EvconnlistenerPtr = std::unique_ptr<evconnlistener, EvconnlistenerFree>;
using EvhttpPtr = std::unique_ptr<evhttp, EvhttpFree>;

}  // namespace hato::net
