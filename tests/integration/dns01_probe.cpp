// Drives the dns-01 solver once against a real DNS server, for dns_update_test.sh:
//
//   dns01_probe present|cleanup NAMESERVER ZONE KEY_FILE DOMAIN TXT [PROPAGATION] [EXCHANGE]
//
// The options go through the solver's own YAML reader, as a configuration would. Exit 0 on
// success; 78 with the reader's problems for bad options; 1 with the error on stderr otherwise.
#include <iostream>
#include <string>
#include <thread>

#include "issuer/acme/dns01_solver.hpp"
#include "util/clock.hpp"
#include "util/duration.hpp"
#include "util/random.hpp"
#include "yaml/tree.hpp"

using namespace certrotd;
using namespace certrotd::issuer::acme;

int main(int argc, char** argv) {
  if (argc < 7) {
    std::cerr << "usage: dns01_probe present|cleanup NAMESERVER ZONE KEY_FILE DOMAIN TXT "
                 "[PROPAGATION] [EXCHANGE]\n";
    return 2;
  }
  const std::string phase = argv[1];
  std::string text = "dns-01: { nameserver: \"" + std::string(argv[2]) + "\", zone: \"" + argv[3] +
                     "\", tsig_key_file: \"" + argv[4] + "\"";
  if (argc > 7) text += ", propagation_timeout: " + std::string(argv[7]);
  text += " }\n";

  yaml::Problems problems;
  problems.add_source("probe.yaml");
  const auto documents = yaml::parse_yaml_documents(text);
  const yaml::YamlNode& root = documents.at(0);
  const yaml::Reader reader("probe.yaml", ".", problems);
  const yaml::YamlNode& key = root.key_at(0);
  const yaml::Mark key_mark{"probe.yaml", key.line(), key.column()};
  const yaml::Field field{key.scalar(), key_mark, &root.value_at(0),
                          reader.mark(root.value_at(0), key_mark)};
  auto options = read_dns01_options(field, reader);
  if (!options) {
    std::cerr << problems.render() << "\n";
    return 78;
  }
  if (argc > 8) {
    auto exchange = parse_duration(argv[8]);
    if (!exchange) return 2;
    options->exchange_timeout = *exchange;
  }
  options->poll_interval = std::chrono::milliseconds(200);

  RealClock clock;
  SystemRandom random;
  SolverContext context{&clock, &random, [](Millis d) { std::this_thread::sleep_for(d); }, "probe",
                        -1};
  Dns01Solver solver(std::move(*options), context);
  ChallengeTask task;
  task.credential = "probe";
  task.identifier = argv[5];
  task.dns_txt = argv[6];
  auto done = phase == "cleanup" ? solver.cleanup(task) : solver.present(task);
  if (!done) {
    std::cerr << "dns01_probe " << phase << ": " << done.error().what() << "\n";
    return 1;
  }
  std::cout << phase << " ok\n";
  return 0;
}
