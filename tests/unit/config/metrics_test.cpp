// The top-level metrics: section.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace certrotd::config::test {
namespace {

TEST(ConfigMetrics, NoSectionMeansNoMetrics) {
  const auto config = parse("state_dir: /x\n");
  ASSERT_TRUE(config) << config.error().what();
  EXPECT_FALSE(config->metrics.listen_host);
  EXPECT_FALSE(config->metrics.textfile);
}

TEST(ConfigMetrics, ListenAndTextfileAreRead) {
  const auto config = parse(
      "metrics:\n  listen: \"127.0.0.1:9543\"\n  textfile: /var/lib/prometheus/c.prom\n");
  ASSERT_TRUE(config) << config.error().what();
  EXPECT_EQ(config->metrics.listen_host, "127.0.0.1");
  EXPECT_EQ(config->metrics.listen_port, 9543);
  EXPECT_EQ(config->metrics.textfile, fs::path("/var/lib/prometheus/c.prom"));
}

TEST(ConfigMetrics, AnAddressOtherHostsReachIsRefusedWithoutAllowRemote) {
  EXPECT_EQ(errors_of("metrics:\n  listen: \"0.0.0.0:9543\"\n"),
            "test.yaml:2:11: metrics.listen '0.0.0.0:9543' is reachable from other hosts and "
            "/metrics has no authentication; write listen: \"127.0.0.1:9543\" (and scrape "
            "through a proxy), or add allow_remote: true to mean it");
}

TEST(ConfigMetrics, AllowRemoteAcceptsAnyAddress) {
  const auto config = parse("metrics: { listen: \"0.0.0.0:9543\", allow_remote: true }\n");
  ASSERT_TRUE(config) << config.error().what();
  EXPECT_EQ(config->metrics.listen_host, "0.0.0.0");
}

TEST(ConfigMetrics, ListenWithoutAPortIsAnError) {
  EXPECT_EQ(errors_of("metrics:\n  listen: localhost\n"),
            "test.yaml:2:11: metrics.listen 'localhost' is not an IPv4 address and port; write "
            "listen: \"127.0.0.1:9543\"");
}

TEST(ConfigMetrics, UnknownKeyIsHinted) {
  EXPECT_NE(errors_of("metrics:\n  textfil: /x.prom\n").find("did you mean 'textfile'"),
            std::string::npos);
}

}  // namespace
}  // namespace certrotd::config::test
