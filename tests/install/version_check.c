/*
 * version_check: the version macros in aigw.h, aigw_version() in the
 * library, and the version given on the command line (Cargo.toml's) agree.
 *
 *   version_check 0.1.0
 *
 * Prints one line per check and a closing "N passed, N failed".
 */
#include <stdio.h>
#include <string.h>

#include <aigw.h>

/* The macros must be usable by the preprocessor (#if), not only in C. */
#if !defined(AIGW_VERSION_MAJOR) || !defined(AIGW_VERSION_MINOR) || \
    !defined(AIGW_VERSION_PATCH) || !defined(AIGW_VERSION)
#error "aigw.h lacks a version macro"
#endif
#if AIGW_VERSION_MAJOR < 0 || AIGW_VERSION_MINOR < 0 || AIGW_VERSION_PATCH < 0
#error "aigw.h has a negative version number"
#endif

static int passed, failed;

static void check(int ok, const char *what, const char *got, const char *want)
{
    if (ok) {
        passed++;
        printf("ok: %s (%s)\n", what, got);
    } else {
        failed++;
        printf("FAIL: %s: got \"%s\", want \"%s\"\n", what, got, want);
    }
}

int main(int argc, char **argv)
{
    char from_parts[64];
    const char *lib = aigw_version();
    if (argc != 2) {
        fprintf(stderr, "usage: %s CARGO_TOML_VERSION\n", argv[0]);
        return 2;
    }
    snprintf(from_parts, sizeof from_parts, "%d.%d.%d", AIGW_VERSION_MAJOR,
             AIGW_VERSION_MINOR, AIGW_VERSION_PATCH);
    check(strcmp(AIGW_VERSION, argv[1]) == 0, "AIGW_VERSION == Cargo.toml version",
          AIGW_VERSION, argv[1]);
    check(strcmp(from_parts, argv[1]) == 0,
          "AIGW_VERSION_MAJOR.MINOR.PATCH == Cargo.toml version", from_parts, argv[1]);
    check(lib != NULL && strcmp(lib, argv[1]) == 0, "aigw_version() == Cargo.toml version",
          lib ? lib : "(null)", argv[1]);
    check(lib != NULL && strcmp(lib, AIGW_VERSION) == 0, "aigw_version() == AIGW_VERSION",
          lib ? lib : "(null)", AIGW_VERSION);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
