// Every rule a configuration can break, each reported as "file:line:col: what; what instead".
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace certrotd::config::test {
namespace {

// A valid issuer on lines 1-5, so credentials in a test start at line 6.
std::string with_issuer(const std::string& rest) {
  return std::string(k_issuers) + (rest.starts_with('\n') ? rest.substr(1) : rest);
}

TEST(ConfigErrors, YamlSyntaxErrorIsReportedAtItsPosition) {
  EXPECT_EQ(errors_of(R"(
state_dir: /x
credentials:
  web:
    issuer: ca
    sans: ["DNS:a"
  api: 1
)"),
            "test.yaml:6:3: invalid YAML: end of sequence flow not found; check the indentation "
            "and quoting here and on the line before");
}

TEST(ConfigErrors, TabIndentationIsASyntaxError) {
  EXPECT_EQ(errors_of("credentials:\n\tweb: 1\n"),
            "test.yaml:2:5: invalid YAML: illegal map value; check the indentation and quoting "
            "here and on the line before");
}

TEST(ConfigErrors, UnknownKeyGetsADidYouMeanHint) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
    renw_at: 50%
)")),
            "test.yaml:10:5: unknown key 'renw_at' in credential 'web'; did you mean 'renew_at'?");
}

TEST(ConfigErrors, UnknownTopLevelKeyIsHintedToo) {
  EXPECT_EQ(errors_of("state_dri: /x\n"),
            "test.yaml:1:1: unknown key 'state_dri' in the top level; did you mean 'state_dir'?");
}

TEST(ConfigErrors, UnknownKeyWithoutACloseMatchListsTheAllowedKeys) {
  EXPECT_EQ(errors_of(with_issuer(R"(
defaults:
  frobnicate: 1
)")),
            "test.yaml:7:3: unknown key 'frobnicate' in defaults; the keys allowed here are: key, "
            "renew_at, renew_before, jitter, backoff, expiring_at, critical_at, lifetime");
}

TEST(ConfigErrors, SubjectShortNamesPointToTheLongOnes) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web: { issuer: ca, sans: ["DNS:web"], subject: { CN: web } }
)")),
            "test.yaml:7:52: unknown key 'CN' in subject; did you mean 'common_name'?");
}

TEST(ConfigErrors, InlineSecretsAreRejectedWithTheFileKeyToUse) {
  EXPECT_EQ(errors_of(R"(
issuers:
  ca:
    type: local
    ca_cert: ca.pem
    ca_key: ca.key
    ca_key_passphrase: hunter2
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
    key_passphrase: x
    client_secret: x
    password: x
    api_token: x
)"),
            "test.yaml:6:5: 'ca_key_passphrase' must not be written inline: the config file is no "
            "place for secrets; write ca_key_passphrase_file: /path instead, naming a file only "
            "certrotd can read\n"
            "test.yaml:11:5: 'key_passphrase' must not be written inline: the config file is no "
            "place for secrets; write key_passphrase_file: /path instead, naming a file only "
            "certrotd can read\n"
            "test.yaml:12:5: 'client_secret' must not be written inline: the config file is no "
            "place for secrets; write client_secret_file: /path instead, naming a file only "
            "certrotd can read\n"
            "test.yaml:13:5: 'password' must not be written inline: the config file is no place "
            "for secrets; write password_file: /path instead, naming a file only certrotd can "
            "read\n"
            "test.yaml:14:5: 'api_token' must not be written inline: the config file is no place "
            "for secrets; write api_token_file: /path instead, naming a file only certrotd can "
            "read");
}

TEST(ConfigErrors, EveryProblemIsReportedInFileOrderNotJustTheFirst) {
  const std::string message = errors_of(with_issuer(R"(
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
    jitter: 60%
  api:
    issuer: nope
    sans: ["api"]
)"));
  EXPECT_EQ(
      message,
      "test.yaml:10:13: jitter must be at least 0% and less than 50%, got '60%'; write e.g. "
      "jitter: 5%\n"
      "test.yaml:12:13: credential 'api' names issuer 'nope', which is not defined; define "
      "it under issuers: or name one of: ca\n"
      "test.yaml:13:12: SAN 'api' does not start with a type; write \"DNS:api\" (types: DNS:, "
      "IP:, URI:, email:)");
}

TEST(ConfigErrors, DuplicateKeyInOneMappingIsAnError) {
  EXPECT_EQ(errors_of(R"(
state_dir: /a
state_dir: /b
)"),
            "test.yaml:2:1: 'state_dir' is given twice in the top level (first at line 1); keep "
            "only one of them");
}

TEST(ConfigErrors, SecondYamlDocumentIsReportedAndTheFirstStillChecked) {
  EXPECT_EQ(errors_of(R"(
max_concurrent_rotations: many
---
b: 2
)"),
            "test.yaml:1:27: max_concurrent_rotations must be a whole number, got 'many'; write "
            "e.g. max_concurrent_rotations: 1\n"
            "test.yaml:3:1: a second YAML document starts here, and only one is read per file; "
            "remove the '---' line; put further credentials in conf.d/*.yaml");
}

TEST(ConfigErrors, TopLevelMustBeAMapping) {
  EXPECT_EQ(errors_of("- a\n- b\n"),
            "test.yaml:1:1: the top level must be a mapping of keys to values, not a list; write "
            "state_dir: /var/lib/certrotd, then issuers: and credentials: mappings");
}

TEST(ConfigErrors, EmptyValueIsReportedAtItsKey) {
  EXPECT_EQ(errors_of("min_remaining_validity:\nstate_dir: /x\n"),
            "test.yaml:1:1: min_remaining_validity has no value; write a value after the colon or "
            "remove the key");
}

TEST(ConfigErrors, MaxConcurrentRotationsMustBePositive) {
  EXPECT_EQ(errors_of("max_concurrent_rotations: 0\n"),
            "test.yaml:1:27: max_concurrent_rotations must be between 1 and 1024, got 0; write a "
            "number in that range");
}

TEST(ConfigErrors, CredentialMustNameAnExistingIssuer) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web: { issuer: cx, sans: ["DNS:web"] }
)")),
            "test.yaml:7:18: credential 'web' names issuer 'cx', which is not defined; did you "
            "mean 'ca'?");
}

TEST(ConfigErrors, CredentialWithoutIssuerIsAnError) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web: { sans: ["DNS:web"] }
)")),
            "test.yaml:7:3: credential 'web' names no issuer; write issuer: <the name of an entry "
            "under issuers:>");
}

TEST(ConfigErrors, IssuerDefinedWithMistakesIsNotAlsoReportedAsMissing) {
  EXPECT_EQ(errors_of(R"(
issuers:
  ca: { type: local, ca_cert: a.pem }
credentials:
  web: { issuer: ca, sans: ["DNS:web"] }
)"),
            "test.yaml:2:3: issuer 'ca' of type local needs ca_key; write ca_key: "
            "/etc/certrotd/ca/ca.key");
}

TEST(ConfigErrors, IssuerNeedsAKnownType) {
  EXPECT_EQ(errors_of(R"(
issuers:
  a: { type: lcoal, ca_cert: a, ca_key: b }
  b: { type: vault }
  c: { ca_cert: a }
)"),
            "test.yaml:2:14: unknown issuer type 'lcoal'; did you mean 'local'? this version of "
            "certrotd supports type: local, http, cfssl, sap-service-manager, est and acme\n"
            "test.yaml:3:14: unknown issuer type 'vault'; this version of certrotd supports type: "
            "local, http, cfssl, sap-service-manager, est and acme\n"
            "test.yaml:4:3: issuer 'c' has no type; write type: local");
}

TEST(ConfigErrors, LocalIssuerNeedsItsCaCertificateAndKey) {
  EXPECT_EQ(errors_of("issuers:\n  ca: { type: local }\n"),
            "test.yaml:2:3: issuer 'ca' of type local needs ca_cert; write ca_cert: "
            "/etc/certrotd/ca/ca.pem\n"
            "test.yaml:2:3: issuer 'ca' of type local needs ca_key; write ca_key: "
            "/etc/certrotd/ca/ca.key");
}

TEST(ConfigErrors, CredentialNeedsACommonNameOrASan) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web: { issuer: ca }
  api: { issuer: ca, subject: { organization: [Example] }, sans: [] }
)")),
            "test.yaml:7:3: credential 'web' has neither a common_name nor a SAN; write at least "
            "one, e.g. sans: [\"DNS:web.example.internal\"]\n"
            "test.yaml:8:60: credential 'api' has neither a common_name nor a SAN; write at least "
            "one, e.g. sans: [\"DNS:api.example.internal\"]");
}

TEST(ConfigErrors, SansMustParse) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web:
    issuer: ca
    sans: ["web.example", "IP:10.0.0", "10.0.0.5", "DNS:a", "dns:a", "DNS:"]
)")),
            "test.yaml:9:12: SAN 'web.example' does not start with a type; write "
            "\"DNS:web.example\" (types: DNS:, IP:, URI:, email:)\n"
            "test.yaml:9:27: SAN 'IP:10.0.0' is not valid: '10.0.0' is not an IPv4 or IPv6 "
            "address; write e.g. \"IP:10.0.0.5\"\n"
            "test.yaml:9:40: SAN '10.0.0.5' does not start with a type; write \"IP:10.0.0.5\" "
            "(types: DNS:, IP:, URI:, email:)\n"
            "test.yaml:9:61: SAN 'dns:a' is listed twice; list each name once\n"
            "test.yaml:9:70: SAN 'DNS:' is not valid: empty SAN value in 'DNS:'; write e.g. "
            "\"DNS:web.example.internal\"");
}

TEST(ConfigErrors, SansMustBeAList) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web: { issuer: ca, sans: "DNS:web" }
)")),
            "test.yaml:7:28: sans must be a list, not a single value; write sans: "
            "[\"DNS:web.example.internal\", \"IP:10.0.0.5\"]");
}

TEST(ConfigErrors, UsagesMustParse) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web: { issuer: ca, sans: ["DNS:web"], usage: [clientAut, codeSigning, serverAuth, serverAuth] }
)")),
            "test.yaml:7:49: unknown usage 'clientAut'; did you mean 'clientAuth'? write "
            "serverAuth and/or clientAuth\n"
            "test.yaml:7:60: unknown usage 'codeSigning'; write serverAuth and/or clientAuth\n"
            "test.yaml:7:85: usage 'serverAuth' is listed twice; list each usage once");
}

TEST(ConfigErrors, CountryMustBeATwoLetterCode) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web: { issuer: ca, subject: { common_name: web, country: Germany } }
)")),
            "test.yaml:7:60: country 'Germany' is not a two-letter country code; write an ISO "
            "3166 code such as country: DE");
}

TEST(ConfigErrors, KeySpecMustBeSupported) {
  EXPECT_EQ(errors_of(with_issuer(R"(
defaults:
  key: { type: ec, curve: prime256v1 }
credentials:
  a: { issuer: ca, sans: ["DNS:a"], key: { type: rsa, bits: 1024 } }
  b: { issuer: ca, sans: ["DNS:b"], key: { type: ec, bits: 256 } }
  c: { issuer: ca, sans: ["DNS:c"], key: { type: rsa, curve: P-256 } }
  d: { issuer: ca, sans: ["DNS:d"], key: { type: ed25519, curve: P-256 } }
  e: { issuer: ca, sans: ["DNS:e"], key: { type: ecdsa } }
  f: { issuer: ca, sans: ["DNS:f"], key: { curve: P-384 } }
  g: { issuer: ca, sans: ["DNS:g"], key: { type: ec, curve: P-521 } }
)")),
            "test.yaml:7:27: unsupported ec curve 'prime256v1'; did you mean 'P-256'? write "
            "curve: P-256 or curve: P-384\n"
            "test.yaml:9:61: rsa keys of 1024 bits are not supported; write bits: 2048, 3072 or "
            "4096\n"
            "test.yaml:10:54: bits applies to rsa keys only; for an ec key write curve: P-256 or "
            "curve: P-384 instead\n"
            "test.yaml:11:55: curve applies to ec keys only; for an rsa key write bits: 2048, "
            "3072 or 4096 instead\n"
            "test.yaml:12:59: ed25519 keys take no curve; write key: { type: ed25519 }\n"
            "test.yaml:13:50: unknown key type 'ecdsa'; did you mean 'ec'? write key: { type: "
            "ec, curve: P-256 }, key: { type: rsa, bits: 3072 } or key: { type: ed25519 }\n"
            "test.yaml:14:42: key has no type; write key: { type: ec, curve: P-256 }, key: { "
            "type: rsa, bits: 3072 } or key: { type: ed25519 }\n"
            "test.yaml:15:61: unsupported ec curve 'P-521'; write curve: P-256 or curve: P-384");
}

TEST(ConfigErrors, RenewAtMustBeAPercentageBetweenZeroAndHundred) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  a: { issuer: ca, sans: ["DNS:a"], renew_at: 0.66 }
  b: { issuer: ca, sans: ["DNS:b"], renew_at: 66 }
  c: { issuer: ca, sans: ["DNS:c"], renew_at: 0% }
  d: { issuer: ca, sans: ["DNS:d"], renew_at: 100% }
  e: { issuer: ca, sans: ["DNS:e"], renew_at: 120% }
)")),
            "test.yaml:7:47: renew_at must be a percentage, got '0.66'; write renew_at: 66%\n"
            "test.yaml:8:47: renew_at must be a percentage, got '66'; write renew_at: 66%\n"
            "test.yaml:9:47: renew_at must be more than 0% and less than 100%, got '0%'; write "
            "e.g. renew_at: 66%\n"
            "test.yaml:10:47: renew_at must be more than 0% and less than 100%, got '100%'; write "
            "e.g. renew_at: 66%\n"
            "test.yaml:11:47: renew_at must be a percentage between 0% and 100%, got '120%'; "
            "write e.g. renew_at: 66%");
}

TEST(ConfigErrors, JitterMustStayBelowHalf) {
  EXPECT_EQ(errors_of("defaults:\n  jitter: 50%\n"),
            "test.yaml:2:11: jitter must be at least 0% and less than 50%, got '50%'; write e.g. "
            "jitter: 5%");
  EXPECT_EQ(errors_of("defaults:\n  jitter: 0%\n"), "<loaded without errors>");
}

TEST(ConfigErrors, ExpiringAtMustBeAPercentage) {
  EXPECT_EQ(errors_of("defaults:\n  expiring_at: 0.1\n"),
            "test.yaml:2:16: expiring_at must be a percentage, got '0.1'; write expiring_at: 10%");
}

TEST(ConfigErrors, DurationsNeedAUnit) {
  EXPECT_EQ(errors_of("defaults:\n  renew_before: 30\n  lifetime: 0s\n"),
            "test.yaml:2:17: renew_before '30' is not a duration; write a number with a unit, "
            "e.g. renew_before: 24h (units: ms, s, m, h, d, w; combined as in 1h30m)\n"
            "test.yaml:3:13: lifetime must be at least 1s, got '0s'; write a longer duration, "
            "e.g. lifetime: 1m");
}

TEST(ConfigErrors, BackoffCapMustNotBeShorterThanItsBase) {
  EXPECT_EQ(errors_of(with_issuer(R"(
defaults:
  backoff: { base: 2h }
credentials:
  a: { issuer: ca, sans: ["DNS:a"] }
  b: { issuer: ca, sans: ["DNS:b"] }
)")),
            "test.yaml:7:20: backoff cap 1h is shorter than its base 2h; write a cap at least as "
            "long as the base, e.g. backoff: { base: 2h, cap: 8h }");
}

TEST(ConfigErrors, RenewBeforeMustBeShorterThanTheCredentialLifetime) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web: { issuer: ca, sans: ["DNS:web"], renew_before: 10h, lifetime: 8h }
)")),
            "test.yaml:7:55: renew_before 10h is not shorter than the 8h lifetime of credential "
            "'web'; write a shorter renew_before, or renew_at: 66% to renew at a share of the "
            "lifetime");
}

TEST(ConfigErrors, RenewBeforeFromDefaultsIsCheckedAgainstTheIssuerLifetime) {
  EXPECT_EQ(errors_of(R"(
defaults:
  renew_before: 2d
issuers:
  ca: { type: local, ca_cert: a, ca_key: b, lifetime: 1d }
credentials:
  web: { issuer: ca, sans: ["DNS:web"], lifetime: 36h }
)"),
            "test.yaml:2:17: renew_before 2d is not shorter than the 1d lifetime of credential "
            "'web' (the most issuer 'ca' grants); write a shorter renew_before, or renew_at: 66% "
            "to renew at a share of the lifetime");
}

TEST(ConfigErrors, RenewBeforeShorterThanTheLifetimeIsAccepted) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web: { issuer: ca, sans: ["DNS:web"], renew_before: 8h }
)")),
            "<loaded without errors>");
}

TEST(ConfigErrors, CredentialNameMustBeSafeAsAFileName) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  "../x": { issuer: ca, sans: ["DNS:x"] }
  .hidden: { issuer: ca, sans: ["DNS:h"] }
  "a b": { issuer: ca, sans: ["DNS:a"] }
  ok-name_1.2: { issuer: ca, sans: ["DNS:ok"] }
)")),
            "test.yaml:7:3: credential name '../x' cannot be used as a folder name; use only "
            "letters, digits, '.', '_' and '-', not starting with '.'\n"
            "test.yaml:8:3: credential name '.hidden' cannot be used as a folder name; use only "
            "letters, digits, '.', '_' and '-', not starting with '.'\n"
            "test.yaml:9:3: credential name 'a b' cannot be used as a folder name; use only "
            "letters, digits, '.', '_' and '-', not starting with '.'");
}

TEST(ConfigErrors, CredentialDefinedTwiceInOneFileIsAnError) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web: { issuer: ca, sans: ["DNS:a"] }
  web: { issuer: ca, sans: ["DNS:b"] }
)")),
            "test.yaml:8:3: 'web' is given twice in credentials (first at line 7); keep only one "
            "of them");
}

TEST(ConfigErrors, OutputDirsMustBeDistinct) {
  EXPECT_EQ(errors_of(with_issuer(R"(
state_dir: /srv
credentials:
  a: { issuer: ca, sans: ["DNS:a"], output: { dir: /srv/live/b/ } }
  b: { issuer: ca, sans: ["DNS:b"] }
)")),
            "test.yaml:9:3: output dir /srv/live/b of credential 'b' is also the output dir of "
            "credential 'a' (test.yaml:8:52); give each credential its own output dir");
}

TEST(ConfigErrors, CopyPathsMustBeDistinct) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  a: { issuer: ca, sans: ["DNS:a"], output: { copies: [{ path: /tls/x.pem, content: cert }] } }
  b: { issuer: ca, sans: ["DNS:b"], output: { copies: [{ path: /tls/x.pem, content: key }] } }
)")),
            "test.yaml:8:64: copy /tls/x.pem is already written by credential 'a' "
            "(test.yaml:7:64); write each file from one credential and one copy entry only");
}

TEST(ConfigErrors, CopiesNeedAPathAndAKnownContent) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
    output:
      copies:
        - { path: /tls/a.pem, content: fulchain }
        - { path: /tls/b.pem }
        - { content: cert }
        - /tls/c.pem
)")),
            "test.yaml:12:40: unknown content 'fulchain'; did you mean 'fullchain'? write one of "
            "cert, chain, fullchain, key, bundle, ca\n"
            "test.yaml:13:11: a copy needs a content; write - { path: /etc/nginx/tls/web.crt, "
            "content: fullchain }\n"
            "test.yaml:14:11: a copy needs a path; write - { path: /etc/nginx/tls/web.crt, "
            "content: fullchain }\n"
            "test.yaml:15:11: a copy must be a mapping of keys to values, not a single value; "
            "write - { path: /etc/nginx/tls/web.crt, content: fullchain }");
}

TEST(ConfigErrors, UnquotedModeIsRejectedWithTheQuotedForm) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  a: { issuer: ca, sans: ["DNS:a"], output: { mode: 0640 } }
  b: { issuer: ca, sans: ["DNS:b"], output: { mode: 640 } }
  c: { issuer: ca, sans: ["DNS:c"], output: { copies: [{ path: /x, content: key, mode: 600 }] } }
)")),
            "test.yaml:7:53: mode 0640 is not quoted, and YAML may read an unquoted number as "
            "decimal or octal; write it as a quoted octal string: mode: \"0640\"\n"
            "test.yaml:8:53: mode 640 is not quoted, and YAML may read an unquoted number as "
            "decimal or octal; write it as a quoted octal string: mode: \"0640\"\n"
            "test.yaml:9:88: mode 600 is not quoted, and YAML may read an unquoted number as "
            "decimal or octal; write it as a quoted octal string: mode: \"0600\"");
}

TEST(ConfigErrors, QuotedModeMustBeOctalPermissionBits) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  a: { issuer: ca, sans: ["DNS:a"], output: { mode: "0648" } }
  b: { issuer: ca, sans: ["DNS:b"], output: { mode: "rw-r-----" } }
  c: { issuer: ca, sans: ["DNS:c"], output: { mode: "4750" } }
)")),
            "test.yaml:7:53: mode '0648' is not an octal file permission; write read/write bits "
            "for owner, group and others, e.g. mode: \"0640\"\n"
            "test.yaml:8:53: mode 'rw-r-----' is not an octal file permission; write read/write "
            "bits for owner, group and others, e.g. mode: \"0640\"\n"
            "test.yaml:9:53: mode '4750' is not an octal file permission; write read/write bits "
            "for owner, group and others, e.g. mode: \"0640\"");
}

TEST(ConfigErrors, UnknownOwnerAndGroupAreReportedAtTheirValues) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
    output:
      owner: no-such-user-certrotd
      group: no-such-group-certrotd
      copies: [{ path: /x, content: cert, group: no-such-group-2 }]
)")),
            "test.yaml:11:14: no user 'no-such-user-certrotd' on this system; write an existing "
            "user name or a numeric uid\n"
            "test.yaml:12:14: no group 'no-such-group-certrotd' on this system; write an "
            "existing group name or a numeric gid\n"
            "test.yaml:13:50: no group 'no-such-group-2' on this system; write an existing group "
            "name or a numeric gid");
}

TEST(ConfigErrors, KeepMustBeAtLeastOne) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web: { issuer: ca, sans: ["DNS:web"], output: { keep: 0 } }
)")),
            "test.yaml:7:57: keep must be between 1 and 100, got 0; write a number in that range");
}

TEST(ConfigErrors, UnknownOnRotateActionsAreNamed) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web:
    issuer: ca
    sans: ["DNS:web"]
    on_rotate: [{ run: "systemctl reload nginx" }]
)")),
            "test.yaml:10:19: unknown key 'run' in an on_rotate action; the keys allowed here "
            "are: systemd, signal, exec");
}

TEST(ConfigErrors, WrongShapesAreNamed) {
  EXPECT_EQ(errors_of(with_issuer(R"(
credentials:
  web: x
  api: { issuer: [ca], sans: ["DNS:api"], output: /srv/api }
)")),
            "test.yaml:7:8: credential 'web' must be a mapping of keys to values, not a single "
            "value; write web: { issuer: dev-ca, sans: [\"DNS:web.example.internal\"] }\n"
            "test.yaml:8:18: issuer must be a single value, not a list; write it as one value, "
            "e.g. issuer: something\n"
            "test.yaml:8:51: output must be a mapping of keys to values, not a single value; "
            "write output: { dir: /var/lib/certrotd/live/web, group: www-data, mode: \"0640\" }");
}

}  // namespace
}  // namespace certrotd::config::test
