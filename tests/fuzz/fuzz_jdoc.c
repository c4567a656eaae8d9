/* libFuzzer target: jdoc and jansson agree on arbitrary bytes (fuzz_jdoc_check.h), with
 * and without a top-level value other than an object or an array. */
#include <stdint.h>

#include "fuzz_jdoc_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool lexed;

    if (jdoc_check((const char *)data, size, false, &lexed) ||
        jdoc_check((const char *)data, size, true, &lexed))
        __builtin_trap();
    return 0;
}
