#include "util/encoding.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>

namespace certrotd {
namespace {

std::string all_bytes() {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  return bytes;
}

TEST(Base64, EncodesTheRfc4648TestVectors) {
  EXPECT_EQ(base64_encode(std::string_view("")), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, DecodesWhatItEncodesForEveryByteValueAndLength) {
  const std::string bytes = all_bytes();
  for (std::size_t n = 0; n <= 6; ++n) {
    const std::string part = bytes.substr(250 - n);
    EXPECT_EQ(base64_decode(base64_encode(part)).value(), part) << n;
  }
  EXPECT_EQ(base64_decode(base64_encode(bytes)).value(), bytes);
  EXPECT_EQ(base64_decode("Zm9vYg==").value(), "foob");
  EXPECT_EQ(base64_decode("Zm9vYmE=").value(), "fooba");
  EXPECT_EQ(base64_decode("").value(), "");
}

TEST(Base64, RefusesTextNoEncoderWrites) {
  EXPECT_FALSE(base64_decode("Zm9vYg"));     // padding missing
  EXPECT_FALSE(base64_decode("Zm9v Yg=="));  // white space
  EXPECT_FALSE(base64_decode(" Zm9v"));
  EXPECT_FALSE(base64_decode("Zm9v\n"));
  EXPECT_FALSE(base64_decode("Zm9v!A=="));
  EXPECT_FALSE(base64_decode("Zg==Zg=="));  // padding in the middle
  EXPECT_FALSE(base64_decode("Z==="));
  EXPECT_FALSE(base64_decode("Zm9v-_=="));  // the URL alphabet is base64url's
  EXPECT_FALSE(base64_decode(std::string_view("Zm9v\0\0\0\0", 8)));
}

TEST(Base64url, UsesTheUrlAlphabetWithoutPadding) {
  EXPECT_EQ(base64url_encode(std::string_view("")), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");
  EXPECT_EQ(base64_encode("\xfb\xff\xbf"), "+/+/");
  const std::array<std::uint8_t, 2> bytes{0xff, 0xe0};
  EXPECT_EQ(base64url_encode(bytes), "_-A");
}

TEST(Base64url, DecodesWithOrWithoutPaddingAndEitherAlphabet) {
  const std::string bytes = all_bytes();
  for (std::size_t n = 0; n <= 6; ++n) {
    const std::string part = bytes.substr(250 - n);
    EXPECT_EQ(base64url_decode(base64url_encode(part)).value(), part) << n;
    EXPECT_EQ(base64url_decode(base64_encode(part)).value(), part) << n;
  }
  EXPECT_EQ(base64url_decode("Zm9vYg").value(), "foob");
  EXPECT_EQ(base64url_decode("Zm9vYg==").value(), "foob");
  EXPECT_EQ(base64url_decode("-_-_").value(), "\xfb\xff\xbf");
  EXPECT_EQ(base64url_decode("+/+/").value(), "\xfb\xff\xbf");
}

TEST(Base64url, RefusesCharactersOutsideTheAlphabetAndImpossibleLengths) {
  EXPECT_FALSE(base64url_decode("Zm9v!"));
  EXPECT_FALSE(base64url_decode("Zm9v Yg"));
  EXPECT_FALSE(base64url_decode("Zm9v.Yg"));
  EXPECT_FALSE(base64url_decode("Zg=Zg"));
  EXPECT_FALSE(base64url_decode("Zm9vY"));  // 6 bits left over: not a byte
}

TEST(Hex, PrintsLowerCaseWithOptionalSeparator) {
  const std::array<std::uint8_t, 4> bytes{0x00, 0x0f, 0xab, 0xff};
  EXPECT_EQ(hex_encode(bytes), "000fabff");
  EXPECT_EQ(hex_encode(bytes, ':'), "00:0f:ab:ff");
  EXPECT_EQ(hex_encode({}), "");
  EXPECT_EQ(hex_encode({}, ':'), "");
  EXPECT_EQ(hex_encode(std::span(bytes).first(1), ':'), "00");
}

TEST(Hex, DecodesEitherCaseAndRoundTrips) {
  EXPECT_EQ(hex_decode("000fABff").value(), std::string("\x00\x0f\xab\xff", 4));
  EXPECT_EQ(hex_decode("00:0f:AB:ff", ':').value(), std::string("\x00\x0f\xab\xff", 4));
  EXPECT_EQ(hex_decode("").value(), "");
  const std::string bytes = all_bytes();
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  EXPECT_EQ(hex_decode(hex_encode(std::span(data, bytes.size()))).value(), bytes);
  EXPECT_EQ(hex_decode(hex_encode(std::span(data, bytes.size()), ':'), ':').value(), bytes);
}

TEST(Hex, RefusesOddDigitsForeignCharactersAndMisplacedSeparators) {
  EXPECT_FALSE(hex_decode("abc"));
  EXPECT_FALSE(hex_decode("zz"));
  EXPECT_FALSE(hex_decode("ab cd"));
  EXPECT_FALSE(hex_decode("ab:cd"));  // no separator expected
  EXPECT_FALSE(hex_decode("abcd", ':'));
  EXPECT_FALSE(hex_decode("ab::cd", ':'));
  EXPECT_FALSE(hex_decode(":ab", ':'));
  EXPECT_FALSE(hex_decode("ab:", ':'));
  EXPECT_FALSE(hex_decode("a:bc", ':'));
  EXPECT_FALSE(hex_decode(std::string_view("ab\0c", 4)));
}

}  // namespace
}  // namespace certrotd
