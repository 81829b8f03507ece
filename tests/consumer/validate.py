"""Validates JSON documents against a JSON Schema (draft 2020-12), formats
included: `validate.py SCHEMA DOCUMENTS`, DOCUMENTS holding one JSON document
per line. Prints one line per error and a summary; exits 1 when any document
is invalid. Run with the project's pinned interpreter, .venv/moto/bin/python
(infra/requirements/moto.txt pins jsonschema and rfc3339-validator)."""

import json
import sys

from jsonschema import Draft202012Validator


def main(schema_path, documents_path):
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    checker = Draft202012Validator.FORMAT_CHECKER
    # jsonschema checks `date-time` only when rfc3339-validator is installed;
    # without it the timestamps would pass unchecked.
    if "date-time" not in checker.checkers:
        sys.exit("date-time is not checked: install rfc3339-validator")
    validator = Draft202012Validator(schema, format_checker=checker)
    valid = invalid = 0
    with open(documents_path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            errors = list(validator.iter_errors(json.loads(line)))
            for error in errors:
                print(f"document {number}: {error.json_path}: {error.message}")
            invalid += bool(errors)
            valid += not errors
    print(f"{valid} valid, {invalid} invalid")
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
