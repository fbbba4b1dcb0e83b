# vouch default policy: allow an image when at least one Notary Project signature verified.
#
# Input: Ratify's v1 Rego input, {"verifierReports": [NestedVerifierReport, ...]}, one entry per
# signature artifact vouch examined. One good signature is enough, so a bogus signature pushed
# next to a good one cannot block the image, and an untrusted signature never passes on its own.
# Query: data.ratify.policy.valid (a boolean). Written in Rego v0 syntax, as Ratify's policies are.
package ratify.policy

default valid = false

valid {
	some i, j
	report := input.verifierReports[i]
	report.artifactType == "application/vnd.cncf.notary.signature"
	result := report.verifierReports[j]
	result.isSuccess == true
}
