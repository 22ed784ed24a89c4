#include "util/errno_text.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace certrotd {
namespace {

TEST(ErrnoText, IsTheCLibrarysTextForTheValue) {
  EXPECT_EQ(errno_text(ENOENT), "No such file or directory");
  EXPECT_EQ(errno_text(EACCES), "Permission denied");
}

TEST(ErrnoText, NamesAValueTheLibraryDoesNotKnow) {
  const std::string text = errno_text(123456);
  EXPECT_NE(text.find("Unknown error"), std::string::npos) << text;
  EXPECT_NE(text.find("123456"), std::string::npos) << text;
}

}  // namespace
}  // namespace certrotd
