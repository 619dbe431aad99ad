/*
 * Imports aigw as a Clang module and calls into the library: proves that
 * include/module.modulemap builds as a module, that the module exports the
 * header's declarations and macros, and that the result links and runs.
 * `make modulemap-test` compiles it several ways (see mk/swift.mk):
 *
 *   -x objective-c                 @import aigw;
 *   -x c / -x c++                  #pragma clang module import aigw
 *   -DAIGW_TEST_INCLUDE            #include <aigw.h>, turned into a module
 *                                  import by -fmodules
 *   -DAIGW_TEST_MODULE=CAigw       the Swift package's system-library module
 *                                  (bindings/swift/Sources/CAigw)
 */
#ifndef AIGW_TEST_MODULE
#define AIGW_TEST_MODULE aigw
#endif

#if defined(AIGW_TEST_INCLUDE)
#include <aigw.h>
#elif defined(__OBJC__)
#define AIGW_OBJC_IMPORT(m) @import m;
AIGW_OBJC_IMPORT(AIGW_TEST_MODULE)
#else
#define AIGW_PRAGMA(x) _Pragma(#x)
#define AIGW_IMPORT(m) AIGW_PRAGMA(clang module import m)
AIGW_IMPORT(AIGW_TEST_MODULE)
#endif

#include <stdio.h>
#include <string.h>

int main(void)
{
    aigw_gateway *gw = NULL;
    aigw_error *err = NULL;
    aigw_status st;
    const char *v = aigw_version();

    if (strcmp(v, AIGW_VERSION) != 0) {
        fprintf(stderr, "modulemap: aigw_version() %s != AIGW_VERSION %s\n", v, AIGW_VERSION);
        return 1;
    }
    st = aigw_gateway_new("{}", &gw, &err);
    if (st != AIGW_OK) {
        fprintf(stderr, "modulemap: aigw_gateway_new: %s: %s\n", aigw_status_str((int)st),
                aigw_error_message(err));
        aigw_error_free(err);
        return 1;
    }
    aigw_gateway_free(gw);
    st = aigw_gateway_new("{\"no_such_key\":1}", &gw, &err);
    if (st != AIGW_ERR_INVALID_CONFIG) {
        fprintf(stderr, "modulemap: unknown key gave %d\n", (int)st);
        return 1;
    }
    aigw_error_free(err);
    printf("modulemap: %s ok (aigw %s)\n", MODULEMAP_TEST_NAME, v);
    return 0;
}
