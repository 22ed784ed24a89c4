#include "util/fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <stdexcept>
#include <utility>

namespace certrotd {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// Two fresh descriptors; the test owns them through Fd or closes them itself.
std::pair<int, int> make_pipe() {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  return {fds[0], fds[1]};
}

TEST(Fd, DefaultIsInvalid) {
  const Fd fd;
  EXPECT_FALSE(fd.valid());
  EXPECT_FALSE(fd);
  EXPECT_EQ(fd.get(), -1);
}

TEST(Fd, ClosesOnDestruction) {
  const auto [r, w] = make_pipe();
  {
    const Fd a(r);
    const Fd b(w);
    EXPECT_TRUE(a);
    EXPECT_EQ(a.get(), r);
  }
  EXPECT_FALSE(is_open(r));
  EXPECT_FALSE(is_open(w));
}

TEST(Fd, MoveConstructionTransfersOwnership) {
  const auto [r, w] = make_pipe();
  const Fd keep_w(w);
  Fd a(r);
  {
    const Fd b(std::move(a));
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_EQ(b.get(), r);
    EXPECT_TRUE(is_open(r));
  }
  EXPECT_FALSE(is_open(r));
}

TEST(Fd, MoveAssignmentClosesThePreviousDescriptor) {
  const auto [r1, w1] = make_pipe();
  const auto [r2, w2] = make_pipe();
  const Fd keep_w1(w1);
  const Fd keep_w2(w2);
  Fd a(r1);
  Fd b(r2);
  a = std::move(b);
  EXPECT_FALSE(is_open(r1));
  EXPECT_TRUE(is_open(r2));
  EXPECT_EQ(a.get(), r2);
  EXPECT_FALSE(b.valid());  // NOLINT(bugprone-use-after-move)
}

TEST(Fd, SelfMoveAssignmentKeepsTheDescriptor) {
  const auto [r, w] = make_pipe();
  const Fd keep_w(w);
  Fd a(r);
  Fd& alias = a;
  a = std::move(alias);
  EXPECT_EQ(a.get(), r);
  EXPECT_TRUE(is_open(r));
}

TEST(Fd, ReleaseGivesUpOwnership) {
  const auto [r, w] = make_pipe();
  const Fd keep_w(w);
  int released = -1;
  {
    Fd a(r);
    released = a.release();
    EXPECT_FALSE(a.valid());
  }
  EXPECT_EQ(released, r);
  EXPECT_TRUE(is_open(r));
  ::close(r);
}

TEST(Fd, ResetClosesAndAdopts) {
  const auto [r, w] = make_pipe();
  Fd a(r);
  a.reset(w);
  EXPECT_FALSE(is_open(r));
  EXPECT_EQ(a.get(), w);
  a.reset();
  EXPECT_FALSE(is_open(w));
  EXPECT_FALSE(a.valid());
}

TEST(ScopeGuard, RunsAtScopeExit) {
  int runs = 0;
  {
    ScopeGuard guard([&runs] { ++runs; });
    EXPECT_EQ(runs, 0);
  }
  EXPECT_EQ(runs, 1);
}

TEST(ScopeGuard, DoesNotRunWhenDismissed) {
  int runs = 0;
  {
    ScopeGuard guard([&runs] { ++runs; });
    guard.dismiss();
  }
  EXPECT_EQ(runs, 0);
}

TEST(ScopeGuard, RunsWhenAnExceptionUnwinds) {
  int runs = 0;
  try {
    ScopeGuard guard([&runs] { ++runs; });
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(runs, 1);
}

}  // namespace
}  // namespace certrotd
