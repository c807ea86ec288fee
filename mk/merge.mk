# Commits that merge, through the C API: tests/c/test_merge.c (50 threads keep all 50 fields,
# a logout racing a slower request stays a logout, rolling unchanged = a touch callback).
# Not in TEST_TARGETS yet: it passes once driver.rs executes the Merge and Touch steps of the
# plan. Then add test_merge to KS_C_TESTS in mk/c.mk (plain, ASan, valgrind) and drop this file.
.PHONY: c-test-merge
c-test-merge: $(KS_C_OUT)/plain/test_merge
	$(KS_C_OUT)/plain/test_merge
