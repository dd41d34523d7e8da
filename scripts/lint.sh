#!/bin/bash
# lint.sh: formatting (committed .clang-format) and cppcheck.
set -u
cd "$(dirname "$0")/.."
rc=0
files=$(git ls-files 'src/*.[ch]' 'tests/unit/*.[ch]' 'bench/*.[ch]' \
	'examples/*.[ch]' 2>/dev/null)
if [ -n "$files" ]; then
	# shellcheck disable=SC2086
	if ! clang-format --dry-run --Werror $files; then
		echo "lint: formatting differs from .clang-format (run: make format)"
		rc=1
	fi
	if ! cppcheck --quiet --error-exitcode=1 --std=c11 \
		--enable=warning,portability,performance \
		--inline-suppr --suppress=missingIncludeSystem \
		-D__x86_64__ -D__linux__ -Isrc src; then
		echo "lint: cppcheck found problems"
		rc=1
	fi
fi
[ $rc -eq 0 ] && echo "lint: ok"
exit $rc
