#include "client/cli/text_table.h"

#include "gtest/gtest.h"

namespace genfarm::client {
namespace {

TEST(TextTableTest, PadsColumnsToTheWidestCell) {
  TextTable table({"ID", "NAME", "STATE"});
  table.AddRow({"7", "sh010_upres", "active"});
  table.AddRow({"123", "x", "failed"});
  EXPECT_EQ(table.Render(),
            "ID   NAME         STATE\n"
            "7    sh010_upres  active\n"
            "123  x            failed\n");
}

TEST(TextTableTest, ShortRowsArePaddedAndTrailingSpaceTrimmed) {
  TextTable table({"A", "B"});
  table.AddRow({"long value"});
  EXPECT_EQ(table.Render(),
            "A           B\n"
            "long value\n");
}

TEST(TextTableTest, CountsUtf8CharactersNotBytes) {
  TextTable table({"NAME", "X"});
  table.AddRow({"café", "1"});
  EXPECT_EQ(table.Render(),
            "NAME  X\n"
            "café  1\n");
}

}  // namespace
}  // namespace genfarm::client
