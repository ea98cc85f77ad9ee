// client_session_test.cc - the SMTP client state machine against scripted servers.
#define BOOST_TEST_MODULE client_session
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "queue/envelope.h"
#include "relay/client_session.h"

using namespace hato::relay;

namespace {

struct FakeIo : ClientIo {
  std::string sent;
  int tls_started = 0;
  int closes = 0;
  void send(std::string_view b) override { sent.append(b); }
  void start_tls() override { ++tls_started; }
  void close() override { ++closes; }
  void set_timeout(std::chrono::milliseconds) override {}
  std::string take() {
    std::string s;
    s.swap(sent);
    return s;
  }
};

struct Events : ClientSession::Events {
  int ready_count = 0;
  std::vector<Reply> failures;
  void ready() override { ++ready_count; }
  void failed(const Reply& r) override { failures.push_back(r); }
};

OutboundMessage message(std::vector<std::string> rcpts,
                        std::string data = "Subject: x\r\n\r\nhi\r\n") {
  OutboundMessage m;
  m.id = "ID";
  m.sender = "a@example.test";
  for (auto& r : rcpts) m.recipients.push_back({r, 0, ""});
  m.data = std::make_shared<const std::string>(std::move(data));
  return m;
}

struct Fixture {
  FakeIo io;
  Events events;
  ClientOptions options;
  std::unique_ptr<ClientSession> s;
  Fixture(ClientTls tls = ClientTls::kOpportunistic) {
    options.helo = "relay.example.test";
    options.server_name = "mx.test[127.0.0.1]:25";
    options.tls = tls;
    s = std::make_unique<ClientSession>(io, options, events);
    s->connected();
  }
  void ehlo(const std::string& caps) {
    s->receive("220 mx.test ESMTP\r\n");
    BOOST_TEST(io.take() == "EHLO relay.example.test\r\n");
    s->receive(caps);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(pipelined_transaction_with_mixed_recipients) {
  Fixture f(ClientTls::kNone);
  f.ehlo("250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n");
  BOOST_TEST(f.events.ready_count == 1);
  TransactionResult result;
  f.s->send(message({"x@d.test", "y@d.test"}), [&](TransactionResult r) { result = std::move(r); });
  BOOST_TEST(f.io.take() ==
             "MAIL FROM:<a@example.test> SIZE=18\r\nRCPT TO:<x@d.test>\r\nRCPT TO:<y@d.test>\r\n"
             "DATA\r\n");
  f.s->receive("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n354 go\r\n");
  BOOST_TEST(f.io.take() == "Subject: x\r\n\r\nhi\r\n.\r\n");
  f.s->receive("250 2.0.0 queued as X\r\n");
  BOOST_REQUIRE(result.size() == 2u);
  BOOST_TEST(result[0].code == 250);
  BOOST_TEST(result[1].code == 550);
  BOOST_TEST(result[1].enhanced() == "5.1.1");
  BOOST_TEST((f.s->state() == ClientSession::State::kReady));
}

BOOST_AUTO_TEST_CASE(dot_stuffing_and_final_crlf) {
  Fixture f(ClientTls::kNone);
  f.ehlo("250-mx.test\r\n250 PIPELINING\r\n");
  TransactionResult result;
  f.s->send(message({"x@d.test"}, ".leading\r\nmid\r\n..two\r\nlast"),
            [&](TransactionResult r) { result = std::move(r); });
  f.io.take();
  f.s->receive("250 ok\r\n250 ok\r\n354 go\r\n");
  BOOST_TEST(f.io.take() == "..leading\r\nmid\r\n...two\r\nlast\r\n.\r\n");
}

BOOST_AUTO_TEST_CASE(without_pipelining_one_command_at_a_time) {
  Fixture f(ClientTls::kNone);
  f.ehlo("250 mx.test\r\n");
  TransactionResult result;
  f.s->send(message({"x@d.test", "y@d.test"}), [&](TransactionResult r) { result = std::move(r); });
  BOOST_TEST(f.io.take() == "MAIL FROM:<a@example.test>\r\n");
  f.s->receive("250 ok\r\n");
  BOOST_TEST(f.io.take() == "RCPT TO:<x@d.test>\r\n");
  f.s->receive("451 4.3.0 later\r\n");
  BOOST_TEST(f.io.take() == "RCPT TO:<y@d.test>\r\n");
  f.s->receive("250 ok\r\n");
  BOOST_TEST(f.io.take() == "DATA\r\n");
  f.s->receive("354 go\r\n");
  f.io.take();
  f.s->receive("250 done\r\n");
  BOOST_REQUIRE(result.size() == 2u);
  BOOST_TEST(result[0].code == 451);
  BOOST_TEST(result[1].code == 250);
}

BOOST_AUTO_TEST_CASE(all_recipients_refused_resets) {
  Fixture f(ClientTls::kNone);
  f.ehlo("250 mx.test\r\n");
  TransactionResult result;
  f.s->send(message({"x@d.test"}), [&](TransactionResult r) { result = std::move(r); });
  f.io.take();
  f.s->receive("250 ok\r\n");
  f.io.take();
  f.s->receive("550 5.1.1 unknown\r\n");
  BOOST_TEST(f.io.take() == "RSET\r\n");
  BOOST_TEST(result.empty());
  f.s->receive("250 ok\r\n");
  BOOST_REQUIRE(result.size() == 1u);
  BOOST_TEST(result[0].code == 550);
  BOOST_TEST((f.s->state() == ClientSession::State::kReady));
}

BOOST_AUTO_TEST_CASE(starttls_when_offered_then_ehlo_again) {
  Fixture f;
  f.ehlo("250-mx.test\r\n250 STARTTLS\r\n");
  BOOST_TEST(f.io.take() == "STARTTLS\r\n");
  f.s->receive("220 go ahead\r\n");
  BOOST_TEST(f.io.tls_started == 1);
  f.s->tls_established("TLSv1.3", "TLS_AES_256_GCM_SHA384");
  BOOST_TEST(f.io.take() == "EHLO relay.example.test\r\n");
  f.s->receive("250-mx.test\r\n250 PIPELINING\r\n");
  BOOST_TEST(f.events.ready_count == 1);
  BOOST_TEST(f.s->tls_active());
}

BOOST_AUTO_TEST_CASE(tls_required_but_not_offered_fails) {
  Fixture f(ClientTls::kRequired);
  f.ehlo("250 mx.test\r\n");
  BOOST_TEST(f.events.ready_count == 0);
  BOOST_REQUIRE(f.events.failures.size() == 1u);
  BOOST_TEST(f.events.failures[0].code == 0);
  BOOST_TEST(f.io.closes >= 1);
}

BOOST_AUTO_TEST_CASE(ehlo_refused_falls_back_to_helo) {
  Fixture f(ClientTls::kNone);
  f.s->receive("220 old.test SMTP\r\n");
  f.io.take();
  f.s->receive("502 5.5.1 what\r\n");
  BOOST_TEST(f.io.take() == "HELO relay.example.test\r\n");
  f.s->receive("250 old.test\r\n");
  BOOST_TEST(f.events.ready_count == 1);
  BOOST_TEST(!f.s->capabilities().pipelining);
}

BOOST_AUTO_TEST_CASE(greeting_4xx_fails_with_the_reply) {
  Fixture f;
  f.s->receive("421 4.3.2 busy\r\n");
  BOOST_REQUIRE(f.events.failures.size() == 1u);
  BOOST_TEST(f.events.failures[0].code == 421);
}

BOOST_AUTO_TEST_CASE(size_limit_checked_before_sending) {
  Fixture f(ClientTls::kNone);
  f.ehlo("250-mx.test\r\n250 SIZE 10\r\n");
  TransactionResult result;
  f.s->send(message({"x@d.test"}), [&](TransactionResult r) { result = std::move(r); });
  BOOST_TEST(f.io.take().empty());
  BOOST_REQUIRE(result.size() == 1u);
  BOOST_TEST(result[0].code == 552);
  BOOST_TEST(result[0].enhanced() == "5.3.4");
}

BOOST_AUTO_TEST_CASE(smtputf8_needed_but_missing_bounces) {
  Fixture f(ClientTls::kNone);
  f.ehlo("250 mx.test\r\n");
  auto m = message({"x@d.test"});
  m.smtputf8 = true;
  TransactionResult result;
  f.s->send(std::move(m), [&](TransactionResult r) { result = std::move(r); });
  BOOST_REQUIRE(result.size() == 1u);
  BOOST_TEST(result[0].enhanced() == "5.6.7");
}

BOOST_AUTO_TEST_CASE(dsn_parameters_passed_when_offered) {
  Fixture f(ClientTls::kNone);
  f.ehlo("250-mx.test\r\n250-PIPELINING\r\n250 DSN\r\n");
  auto m = message({"x@d.test"});
  m.recipients[0].notify = hato::queue::kNotifyFailure | hato::queue::kNotifyDelay;
  m.recipients[0].orcpt = "rfc822;x+y@d.test";
  m.ret = "HDRS";
  m.envid = "env 1";
  f.s->send(std::move(m), [](TransactionResult) {});
  BOOST_TEST(f.io.take() ==
             "MAIL FROM:<a@example.test> RET=HDRS ENVID=env+201\r\n"
             "RCPT TO:<x@d.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;x+2By@d.test\r\nDATA\r\n");
}

BOOST_AUTO_TEST_CASE(auth_plain_after_tls) {
  Fixture f(ClientTls::kRequired);
  f.options.username = "u";
  f.options.password = "p";
  f.s = std::make_unique<ClientSession>(f.io, f.options, f.events);
  f.s->connected();
  f.ehlo("250-mx.test\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n");
  BOOST_TEST(f.io.take() == "STARTTLS\r\n");
  f.s->receive("220 go\r\n");
  f.s->tls_established("TLSv1.3", "X");
  f.io.take();
  f.s->receive("250-mx.test\r\n250 AUTH PLAIN LOGIN\r\n");
  BOOST_TEST(f.io.take() == "AUTH PLAIN AHUAcA==\r\n");
  f.s->receive("235 2.7.0 ok\r\n");
  BOOST_TEST(f.events.ready_count == 1);
}

BOOST_AUTO_TEST_CASE(connection_lost_mid_transaction_defers_everyone) {
  Fixture f(ClientTls::kNone);
  f.ehlo("250-mx.test\r\n250 PIPELINING\r\n");
  TransactionResult result;
  f.s->send(message({"x@d.test", "y@d.test"}), [&](TransactionResult r) { result = std::move(r); });
  f.s->receive("250 ok\r\n");
  f.s->closed();
  BOOST_REQUIRE(result.size() == 2u);
  BOOST_TEST(result[0].code == 0);
  BOOST_TEST(result[1].code == 0);
  BOOST_TEST(f.events.failures.size() == 1u);
}

BOOST_AUTO_TEST_CASE(multiline_reply_parsing) {
  ReplyReader r;
  BOOST_TEST(!r.line("250-first"));
  auto done = r.line("250 last");
  BOOST_REQUIRE(done);
  BOOST_TEST(done->lines.size() == 2u);
  BOOST_TEST(r.line("garbage")->code == 0);
  BOOST_TEST(r.line("451 4.7.28 rate limited")->enhanced() == "4.7.28");
  BOOST_TEST(r.line("550 no enhanced")->enhanced() == "5.0.0");
}

// The DSN builder: fields a program reads, and the original attached as asked.
#include "relay/bounce.h"

BOOST_AUTO_TEST_CASE(dsn_has_report_fields_and_headers_only_by_default) {
  std::string original = "From: a@example.test\r\nSubject: hi\r\n\r\nsecret body\r\n";
  DsnInput in;
  in.hostname = "relay.example.test";
  in.queue_id = "Q1";
  in.original_sender = "a@example.test";
  in.arrival_ms = 1700000000000;
  in.original = &original;
  DsnRecipient r;
  r.address = "x@d.test";
  r.orcpt = "rfc822;x@d.test";
  r.action = "failed";
  r.status = "5.1.1";
  r.remote_mta = "mx.d.test";
  r.diagnostic = "550 5.1.1 no such user";
  in.recipients.push_back(r);
  std::string dsn = build_dsn(in, "N1@relay.example.test", 1700000001000);
  BOOST_TEST(dsn.find("Content-Type: multipart/report; report-type=delivery-status;") !=
             std::string::npos);
  BOOST_TEST(dsn.find("Final-Recipient: rfc822; x@d.test\r\nAction: failed\r\nStatus: 5.1.1\r\n") !=
             std::string::npos);
  BOOST_TEST(dsn.find("Diagnostic-Code: smtp; 550 5.1.1 no such user") != std::string::npos);
  BOOST_TEST(dsn.find("Content-Type: text/rfc822-headers") != std::string::npos);
  BOOST_TEST(dsn.find("Subject: hi") != std::string::npos);
  BOOST_TEST(dsn.find("secret body") == std::string::npos);
  in.ret = "FULL";
  dsn = build_dsn(in, "N2@relay.example.test", 1700000001000);
  BOOST_TEST(dsn.find("Content-Type: message/rfc822") != std::string::npos);
  BOOST_TEST(dsn.find("secret body") != std::string::npos);
  // No bare LF anywhere: the DSN goes out through our own SMTP client.
  for (size_t i = 0; i < dsn.size(); ++i)
    if (dsn[i] == '\n') BOOST_TEST((i > 0 && dsn[i - 1] == '\r'));
}

// LMTP (RFC 2033): LHLO, and after the dot one reply per accepted recipient.
BOOST_AUTO_TEST_CASE(lmtp_replies_per_recipient_after_the_dot) {
  FakeIo io;
  Events events;
  ClientOptions options;
  options.helo = "relay.example.test";
  options.server_name = "lmtp[127.0.0.1:24]";
  options.tls = ClientTls::kNone;
  options.lmtp = true;
  ClientSession s(io, options, events);
  s.connected();
  s.receive("220 dovecot LMTP ready\r\n");
  BOOST_TEST(io.take() == "LHLO relay.example.test\r\n");
  s.receive("250-dovecot\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
  BOOST_TEST(events.ready_count == 1);
  TransactionResult result;
  s.send(message({"a@d.test", "b@d.test", "c@d.test"}),
         [&](TransactionResult r) { result = std::move(r); });
  io.take();
  // b is refused at RCPT; a and c are accepted, and answered for one by one.
  s.receive("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 b unknown\r\n250 2.1.5 ok\r\n354 go\r\n");
  BOOST_TEST(io.take() == "Subject: x\r\n\r\nhi\r\n.\r\n");
  s.receive("250 2.0.0 <a@d.test> Saved\r\n");
  BOOST_TEST(result.empty());  // c's reply is still to come
  s.receive("452 4.2.2 <c@d.test> Mailbox is full\r\n");
  BOOST_REQUIRE(result.size() == 3u);
  BOOST_TEST(result[0].code == 250);
  BOOST_TEST(result[1].code == 550);
  BOOST_TEST(result[2].code == 452);
  BOOST_TEST(result[2].enhanced() == "4.2.2");
  BOOST_TEST((s.state() == ClientSession::State::kReady));
}

BOOST_AUTO_TEST_CASE(lmtp_connection_lost_keeps_the_replies_already_given) {
  FakeIo io;
  Events events;
  ClientOptions options;
  options.helo = "relay.example.test";
  options.tls = ClientTls::kNone;
  options.lmtp = true;
  ClientSession s(io, options, events);
  s.connected();
  s.receive("220 ready\r\n250 lmtp\r\n");
  TransactionResult result;
  s.send(message({"a@d.test", "b@d.test"}), [&](TransactionResult r) { result = std::move(r); });
  s.receive("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 2.0.0 a saved\r\n");
  s.closed();
  BOOST_REQUIRE(result.size() == 2u);
  BOOST_TEST(result[0].code == 250);  // delivered: not tried again
  BOOST_TEST(result[1].code == 0);    // unknown: deferred, never lost
}

BOOST_AUTO_TEST_CASE(lhlo_refused_does_not_fall_back_to_helo) {
  FakeIo io;
  Events events;
  ClientOptions options;
  options.helo = "relay.example.test";
  options.tls = ClientTls::kNone;
  options.lmtp = true;
  ClientSession s(io, options, events);
  s.connected();
  s.receive("220 ready\r\n");
  BOOST_TEST(io.take() == "LHLO relay.example.test\r\n");
  s.receive("500 5.5.1 unknown command\r\n");
  BOOST_TEST(io.take().find("HELO") == std::string::npos);
  BOOST_TEST(events.failures.size() == 1u);
}
