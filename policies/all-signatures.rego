# vouch "every artifact must pass" policy (Ratify's documented template).
#
# Allows an image only when there is at least one verifier report and no report anywhere in the
# input has isSuccess == false: every signature attached to the image must verify. Stricter than
# default.rego: anyone who can push to the repository can block the image by attaching a bad
# signature, so use it only where pushes are tightly controlled.
# Query: data.ratify.policy.valid. Rego v0 syntax.
package ratify.policy

default valid = false

valid {
	not failed_verify(input)
}

# Some report, at any depth, failed.
failed_verify(reports) {
	[path, value] := walk(reports)
	value == false
	path[count(path) - 1] == "isSuccess"
}

# A subject or artifact with no verifier reports at all counts as a failure.
failed_verify(reports) {
	[path, value] := walk(reports)
	path[count(path) - 1] == "verifierReports"
	count(value) == 0
}
