/* The header's version macros name the library it ships with: KS_VERSION_STRING is
 * "MAJOR.MINOR.PATCH" of the KS_VERSION_* numbers and equals ks_version() at run time (a
 * program built against one release and run with another would see them differ). */
#include "check.h"

#if !defined(KS_VERSION_MAJOR) || !defined(KS_VERSION_MINOR) || !defined(KS_VERSION_PATCH) || !defined(KS_VERSION_STRING)
#error "koa_session.h defines KS_VERSION_MAJOR, KS_VERSION_MINOR, KS_VERSION_PATCH and KS_VERSION_STRING"
#endif

/* Usable in preprocessor conditions, as version checks are written. */
#if KS_VERSION_MAJOR < 0 || KS_VERSION_MINOR < 0 || KS_VERSION_PATCH < 0
#error "version numbers are non-negative integers"
#endif

int main(void) {
  char expected[64];
  snprintf(expected, sizeof expected, "%d.%d.%d", KS_VERSION_MAJOR, KS_VERSION_MINOR, KS_VERSION_PATCH);
  CHECK_STR(KS_VERSION_STRING, expected);
  CHECK_STR(ks_version(), KS_VERSION_STRING);
  puts("test_version: ok");
  return 0;
}
