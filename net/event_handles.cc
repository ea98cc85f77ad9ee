// event_handles.cc - the free functions behind the libevent owners.
#include "net/event_handles.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

namespace hato::net {

void BuffereventFree::operator()(bufferevent* bev) const {
  bufferevent_free(bev);
}
void EventFree::operator()(event* ev) const {
  event_free(ev);
}
void EvbufferFree::operator()(evbuffer* buffer) const {
  evbuffer_free(buffer);
}
void EvconnlistenerFree::operator()(evconnlistener* listener) const {
  evconnlistener_free(listener);
}
void EvhttpFree::operator()(evhttp* http) const {
  evhttp_free(http);
}

}  // namespace hato::net
