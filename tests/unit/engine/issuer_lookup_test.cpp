// An issuer that asks IssuerContext::issuer for another issuer of the configuration (SAP's
// `self_managed: { issuer }`) finds it for as long as the engine runs, also when that other
// issuer has no credential of its own.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "engine_fixture.hpp"
#include "support/test_support.hpp"

namespace certrotd::engine {
namespace {

// Forwards every request to the issuer named "ca", looked up at issue time.
class ForwardingIssuer final : public issuer::Issuer {
public:
  explicit ForwardingIssuer(std::function<std::shared_ptr<issuer::Issuer>(const std::string&)> find)
      : m_find(std::move(find)) {}
  std::string_view type() const override { return "forwarding"; }
  Result<issuer::IssuedCredential> issue(const issuer::IssueRequest& request) override {
    const std::shared_ptr<issuer::Issuer> other = m_find("ca");
    if (!other) return fail("issuer 'ca' is not an issuer of the configuration");
    return other->issue(request);
  }

private:
  std::function<std::shared_ptr<issuer::Issuer>(const std::string&)> m_find;
};

class IssuerLookupTest : public EngineFixture {
protected:
  void SetUp() override {
    init_ca(false);
    registry.add(issuer::local_issuer_type());
    issuer::IssuerType forwarding = issuer::local_issuer_type();
    forwarding.name = "forwarding";
    forwarding.create =
        [](const issuer::IssuerOptions&,
           const issuer::IssuerContext& context) -> Result<std::shared_ptr<issuer::Issuer>> {
      return std::shared_ptr<issuer::Issuer>(std::make_shared<ForwardingIssuer>(context.issuer));
    };
    registry.add(std::move(forwarding));
  }

  std::string local_options() const {
    return "    ca_cert: " + (dir / "ca/ca.pem").string() +
           "\n    ca_key: " + (dir / "ca/ca.key").string() + "\n    lifetime: 1h\n";
  }
};

TEST_F(IssuerLookupTest, AnIssuerReachedOnlyThroughAnotherOneOutlivesBuildingThePlans) {
  const std::string text = "state_dir: " + (dir / "state").string() +
                           "\nissuers:\n  ca:\n    type: local\n" + local_options() +
                           "  front:\n    type: forwarding\n" + local_options() +
                           "credentials:\n  a:\n    issuer: front\n"
                           "    sans: [\"DNS:a.example\"]\n    output: { dir: " +
                           (dir / "live/a").string() + " }\n";
  auto engine = create_engine(text);
  ASSERT_TRUE(engine);
  engine->start();
  run_due(*engine);
  EXPECT_TRUE(sink.of(EventKind::renew_failed).empty())
      << sink.of(EventKind::renew_failed).front().message;
  EXPECT_TRUE(std::filesystem::exists(dir / "live/a/cert.pem"));
}

}  // namespace
}  // namespace certrotd::engine
