// Paths certrotd writes must not overlap: output dirs, copies and state_dir, compared as
// normalised absolute paths. Each refusal names both places and what to write instead.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace certrotd::config::test {
namespace {

// Lines 1-5 are the issuer; the text given starts on line 6.
std::string with_issuer(const std::string& rest) {
  return std::string(k_issuers) + (rest.starts_with('\n') ? rest.substr(1) : rest);
}

TEST(OutputPaths, AnOutputDirInsideAnotherCredentialsDirIsRefused) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  four: { issuer: ca, sans: ["DNS:four"], output: { dir: /srv/tls/four } }
  one: { issuer: ca, sans: ["DNS:one"], output: { dir: /srv/tls/four/one } }
)")),
            "test.yaml:8:56: output dir /srv/tls/four/one of credential 'one' is inside the "
            "output dir /srv/tls/four of credential 'four' (test.yaml:7:58); give each "
            "credential a folder of its own, side by side, e.g. dir: /srv/tls/one");
}

TEST(OutputPaths, AnOutputDirAroundAnEarlierCredentialsDirIsRefused) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  one: { issuer: ca, sans: ["DNS:one"], output: { dir: /srv/tls/four/one } }
  four: { issuer: ca, sans: ["DNS:four"], output: { dir: /srv/tls/four/ } }
)")),
            "test.yaml:8:58: output dir /srv/tls/four of credential 'four' contains the output "
            "dir /srv/tls/four/one of credential 'one' (test.yaml:7:56); give each credential a "
            "folder of its own, side by side, e.g. dir: /srv/tls/one");
}

TEST(OutputPaths, ACopyInsideAnOutputDirIsRefused) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  four: { issuer: ca, sans: ["DNS:four"], output: { dir: /srv/tls/four } }
  one:
    issuer: ca
    sans: ["DNS:one"]
    output:
      dir: /srv/tls/one
      copies: [{ path: /srv/tls/four/../four/cert.pem, content: cert }]
)")),
            "test.yaml:13:24: copy /srv/tls/four/cert.pem of credential 'one' is inside the "
            "output dir /srv/tls/four of credential 'four' (test.yaml:7:58); write the copy "
            "outside every output dir, whose contents certrotd replaces at each rotation; a "
            "consumer may read /srv/tls/four/<file> directly");
}

TEST(OutputPaths, ACopyInsideItsOwnOutputDirIsRefused) {
  const std::string errors = errors_of(with_issuer(R"(
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
    output: { dir: /srv/tls/web, copies: [{ path: /srv/tls/web/web.pem, content: cert }] }
)"));
  EXPECT_EQ(errors.substr(0, errors.find(';')),
            "test.yaml:10:51: copy /srv/tls/web/web.pem of credential 'web' is inside the output "
            "dir /srv/tls/web of credential 'web' (test.yaml:10:20)");
}

TEST(OutputPaths, NothingMayLieInsideACopyOrShareItsPath) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  a: { issuer: ca, sans: ["DNS:a"], output: { dir: /srv/a, copies: [{ path: /etc/tls, content: cert }] } }
  b: { issuer: ca, sans: ["DNS:b"], output: { dir: /etc/tls/b } }
  c: { issuer: ca, sans: ["DNS:c"], output: { dir: /srv/c, copies: [{ path: /srv/a, content: key }] } }
)")),
            "test.yaml:8:52: output dir /etc/tls/b of credential 'b' is inside the copy /etc/tls "
            "of credential 'a' (test.yaml:7:77); a copy is one file, so nothing can share its "
            "path or lie inside it; give each its own path\n"
            "test.yaml:9:77: copy /srv/a of credential 'c' is also the output dir of credential "
            "'a' (test.yaml:7:52); a copy is one file, so nothing can share its path or lie "
            "inside it; give each its own path");
}

TEST(OutputPaths, SiblingsThatShareAPrefixAreFine) {
  const auto config = parse(with_issuer(R"(
state_dir: /var/lib/certrotd
credentials:
  a: { issuer: ca, sans: ["DNS:a"], output: { dir: /srv/tls/a, copies: [{ path: /srv/tls/a.pem, content: cert }] } }
  b: { issuer: ca, sans: ["DNS:b"], output: { dir: /srv/tls/a-b } }
  c: { issuer: ca, sans: ["DNS:c"], output: { dir: /srv/tls/a.d } }
  d: { issuer: ca, sans: ["DNS:d"] }
  e: { issuer: ca, sans: ["DNS:e"], output: { dir: /var/lib/certrotd/live/elsewhere } }
)"));
  EXPECT_TRUE(config) << config.error().message;
}

TEST(OutputPaths, AnOutputDirOrCopyInsideStateDirOutsideItsLiveFolderIsRefused) {
  EXPECT_EQ(errors_of(with_issuer(R"(
state_dir: /var/lib/certrotd
credentials:
  a: { issuer: ca, sans: ["DNS:a"], output: { dir: /var/lib/certrotd/state } }
  b: { issuer: ca, sans: ["DNS:b"], output: { copies: [{ path: /var/lib/certrotd/b.pem, content: cert }] } }
  c: { issuer: ca, sans: ["DNS:c"], output: { dir: /var/lib/certrotd/live } }
)")),
            "test.yaml:8:52: output dir /var/lib/certrotd/state of credential 'a' is inside the "
            "state_dir /var/lib/certrotd (test.yaml:6:12); leave output.dir out to use "
            "/var/lib/certrotd/live/a, or choose a folder outside /var/lib/certrotd\n"
            "test.yaml:9:64: copy /var/lib/certrotd/b.pem of credential 'b' is inside the "
            "state_dir /var/lib/certrotd (test.yaml:6:12); keep state_dir apart from every output "
            "dir and copy: certrotd keeps its state files there\n"
            "test.yaml:10:52: output dir /var/lib/certrotd/live of credential 'c' is inside the "
            "state_dir /var/lib/certrotd (test.yaml:6:12); leave output.dir out to use "
            "/var/lib/certrotd/live/c, or choose a folder outside /var/lib/certrotd\n"
            // b's folder is the default one, /var/lib/certrotd/live/b.
            "test.yaml:10:52: output dir /var/lib/certrotd/live of credential 'c' contains the "
            "output dir /var/lib/certrotd/live/b of credential 'b' (test.yaml:9:3); give each "
            "credential a folder of its own, side by side");
}

TEST(OutputPaths, StateDirInsideOrEqualToAnOutputDirIsRefused) {
  EXPECT_EQ(errors_of(with_issuer(R"(
state_dir: /srv/tls/state
credentials:
  a: { issuer: ca, sans: ["DNS:a"], output: { dir: /srv/tls } }
  b: { issuer: ca, sans: ["DNS:b"], output: { dir: /srv/tls/state } }
)")),
            "test.yaml:8:52: output dir /srv/tls of credential 'a' contains the state_dir "
            "/srv/tls/state (test.yaml:6:12); keep state_dir apart from every output dir and "
            "copy: certrotd keeps its state files there\n"
            "test.yaml:9:52: output dir /srv/tls/state of credential 'b' is also the state_dir "
            "(test.yaml:6:12); leave output.dir out to use /srv/tls/state/live/b, or choose a "
            "folder outside /srv/tls/state");
}

TEST(OutputPaths, TheDefaultStateDirIsNamedAsTheDefault) {
  const std::string errors = errors_of(with_issuer(R"(
credentials:
  a: { issuer: ca, sans: ["DNS:a"], output: { dir: /var/lib } }
)"));
  EXPECT_EQ(errors.substr(0, errors.find(';')),
            "test.yaml:7:52: output dir /var/lib of credential 'a' contains the state_dir "
            "/var/lib/certrotd (the default)");
}

}  // namespace
}  // namespace certrotd::config::test
