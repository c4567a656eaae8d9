/* libFuzzer target: parse_message() on arbitrary bytes as the monitor format. */
#include "fuzz_parse_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_parse(data, size, PARSE_MONITOR);
}
