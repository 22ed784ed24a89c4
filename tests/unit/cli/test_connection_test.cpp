// The client-certificate verdict of `test-connection`, from what a server did. The I/O around it
// is tested against real nginx and openssl s_server (tests/integration/test_connection_test.sh).
#include <gtest/gtest.h>

#include <sstream>

#include "cli/test_connection.hpp"

namespace certrotd::cli {
namespace {

ServerBehaviour requested_and_answered(std::string status_line, int status, std::string body = {}) {
  ServerBehaviour b;
  b.cert_requested = true;
  b.handshake_completed = true;
  b.status_line = std::move(status_line);
  b.status = status;
  b.body = std::move(body);
  return b;
}

constexpr const char* k_nginx_cert_error_page =
    "<html>\r\n<head><title>400 The SSL certificate error</title></head>\r\n<body>\r\n"
    "<center><h1>400 Bad Request</h1></center>\r\n<center>The SSL certificate error</center>\r\n"
    "<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";

TEST(ClientCertVerdict, NotRequestedWhenTheServerSentNoCertificateRequest) {
  ServerBehaviour b = requested_and_answered("HTTP/1.1 200 OK", 200);
  b.cert_requested = false;
  const auto d = decide_client_cert(b);
  EXPECT_EQ(d.verdict, ClientCertVerdict::not_requested);
  EXPECT_NE(d.evidence.find("CertificateRequest"), std::string::npos) << d.evidence;
}

TEST(ClientCertVerdict, NginxsCertificateErrorPageIsARejectionDespiteTheHandshake) {
  const auto d = decide_client_cert(
      requested_and_answered("HTTP/1.1 400 Bad Request", 400, k_nginx_cert_error_page));
  EXPECT_EQ(d.verdict, ClientCertVerdict::rejected);
  EXPECT_NE(d.evidence.find("The SSL certificate error"), std::string::npos) << d.evidence;
  EXPECT_NE(d.evidence.find("400 Bad Request"), std::string::npos) << d.evidence;
}

TEST(ClientCertVerdict, NginxsNoCertificatePageIsARejection) {
  const auto d = decide_client_cert(requested_and_answered(
      "HTTP/1.1 400 Bad Request", 400,
      "<html><head><title>400 No required SSL certificate was sent</title></head></html>"));
  EXPECT_EQ(d.verdict, ClientCertVerdict::rejected);
  EXPECT_NE(d.evidence.find("No required SSL certificate was sent"), std::string::npos);
}

TEST(ClientCertVerdict, Statuses495And496AreRejections) {
  const auto error = decide_client_cert(
      requested_and_answered("HTTP/1.1 495 SSL Certificate Error", 495));
  EXPECT_EQ(error.verdict, ClientCertVerdict::rejected);
  EXPECT_NE(error.evidence.find("495"), std::string::npos);
  const auto required = decide_client_cert(
      requested_and_answered("HTTP/1.1 496 SSL Certificate Required", 496));
  EXPECT_EQ(required.verdict, ClientCertVerdict::rejected);
}

TEST(ClientCertVerdict, AnOtherBadRequestIsAnAnswerNotARejection) {
  const auto d = decide_client_cert(
      requested_and_answered("HTTP/1.1 400 Bad Request", 400, "{\"error\":\"missing field\"}"));
  EXPECT_EQ(d.verdict, ClientCertVerdict::accepted);
}

TEST(ClientCertVerdict, AForbiddenIsAboutAuthorisationAndStillAnAcceptance) {
  const auto d = decide_client_cert(requested_and_answered("HTTP/1.1 403 Forbidden", 403));
  EXPECT_EQ(d.verdict, ClientCertVerdict::accepted);
  EXPECT_NE(d.evidence.find("HTTP/1.1 403 Forbidden"), std::string::npos) << d.evidence;
}

TEST(ClientCertVerdict, AnAnswerAcceptsAndNamesTheStatusLine) {
  const auto d = decide_client_cert(requested_and_answered("HTTP/1.0 200 ok", 200));
  EXPECT_EQ(d.verdict, ClientCertVerdict::accepted);
  EXPECT_NE(d.evidence.find("HTTP/1.0 200 ok"), std::string::npos) << d.evidence;
}

TEST(ClientCertVerdict, AHandshakeAlertRejects) {
  ServerBehaviour b;
  b.cert_requested = true;
  b.alert = 48;
  b.alert_name = "unknown CA";
  b.no_answer = "the handshake failed: tlsv1 alert unknown ca";
  const auto d = decide_client_cert(b);
  EXPECT_EQ(d.verdict, ClientCertVerdict::rejected);
  EXPECT_NE(d.evidence.find("'unknown CA' (48) during the handshake"), std::string::npos)
      << d.evidence;
}

TEST(ClientCertVerdict, ATls13AlertAfterTheHandshakeRejects) {
  ServerBehaviour b;
  b.cert_requested = true;
  b.handshake_completed = true;
  b.alert = 116;
  b.alert_name = "certificate required";
  b.alert_after_handshake = true;
  b.no_answer = "tlsv13 alert certificate required";
  const auto d = decide_client_cert(b);
  EXPECT_EQ(d.verdict, ClientCertVerdict::rejected);
  EXPECT_NE(d.evidence.find("after the handshake"), std::string::npos) << d.evidence;
}

TEST(ClientCertVerdict, AnAlertOutweighsAnAnswer) {
  ServerBehaviour b = requested_and_answered("HTTP/1.1 200 OK", 200);
  b.alert = 42;
  b.alert_name = "bad certificate";
  EXPECT_EQ(decide_client_cert(b).verdict, ClientCertVerdict::rejected);
}

TEST(ClientCertVerdict, SilenceIsUndeterminedNotARejection) {
  ServerBehaviour b;
  b.cert_requested = true;
  b.handshake_completed = true;
  b.no_answer = "no answer within 10 s";
  const auto d = decide_client_cert(b);
  EXPECT_EQ(d.verdict, ClientCertVerdict::undetermined);
  EXPECT_NE(d.evidence.find("no answer within 10 s"), std::string::npos) << d.evidence;
}

ConnectionReport verified_report(ServerBehaviour b) {
  ConnectionReport r;
  r.protocol = "TLSv1.3";
  r.server_chain = {"CN=127.0.0.1 (issuer: CN=certrotd development root CA)"};
  r.server_verified = true;
  r.verification = "ok";
  r.behaviour = std::move(b);
  r.client_cert = decide_client_cert(r.behaviour);
  return r;
}

TEST(ConnectionPassed, OnlyWhenTheServerVerifiesAndTheCertificateIsNotRefused) {
  EXPECT_TRUE(connection_passed(verified_report(requested_and_answered("HTTP/1.1 200 OK", 200))));
  ServerBehaviour not_asked = requested_and_answered("HTTP/1.1 200 OK", 200);
  not_asked.cert_requested = false;
  EXPECT_TRUE(connection_passed(verified_report(not_asked)));
  EXPECT_FALSE(connection_passed(verified_report(
      requested_and_answered("HTTP/1.1 400 Bad Request", 400, k_nginx_cert_error_page))));
  ServerBehaviour silent;
  silent.cert_requested = true;
  EXPECT_FALSE(connection_passed(verified_report(silent)));
  ConnectionReport unverified = verified_report(requested_and_answered("HTTP/1.1 200 OK", 200));
  unverified.server_verified = false;
  EXPECT_FALSE(connection_passed(unverified));
}

TEST(PrintConnectionReport, SaysTheVerdictAndWhatDecidedIt) {
  std::ostringstream out;
  print_connection_report(verified_report(requested_and_answered("HTTP/1.1 400 Bad Request", 400,
                                                                 k_nginx_cert_error_page)),
                          out);
  EXPECT_EQ(out.str(),
            "protocol:            TLSv1.3\n"
            "server chain:\n"
            "  0 CN=127.0.0.1 (issuer: CN=certrotd development root CA)\n"
            "server verification: ok\n"
            "client certificate:  rejected\n"
            "  evidence:          the server answered HTTP/1.1 400 Bad Request with the page 'The "
            "SSL certificate error' (nginx: the certificate did not verify)\n"
            "response:            HTTP/1.1 400 Bad Request\n");
}

TEST(PrintConnectionReport, SaysWhyNoAnswerCame) {
  ServerBehaviour b;
  b.cert_requested = true;
  b.alert = 48;
  b.alert_name = "unknown CA";
  b.no_answer = "the handshake failed: tlsv1 alert unknown ca";
  std::ostringstream out;
  print_connection_report(verified_report(b), out);
  EXPECT_NE(
      out.str().find("response:            none: the handshake failed: tlsv1 alert unknown ca\n"),
      std::string::npos)
      << out.str();
}

}  // namespace
}  // namespace certrotd::cli
