# vouch example policy: require signed user metadata.
#
# Allows an image when at least one Notary Project signature verified AND that same signature
# carries the signed annotation env=prod (notation sign -m env=prod ...). The annotations come
# from the signed payload (targetArtifact.annotations), so they cannot be added after signing;
# vouch reports them under extensions.userMetadata of each signature's result.
# Copy this file and change `required` to the key/value pairs your images must be signed with.
# Query: data.ratify.policy.valid. Rego v0 syntax with the future keywords Ratify users write.
package ratify.policy

import future.keywords.if
import future.keywords.in
import future.keywords.every

default valid := false

required := {"env": "prod"}

valid if {
	some report in input.verifierReports
	report.artifactType == "application/vnd.cncf.notary.signature"
	some result in report.verifierReports
	result.isSuccess == true
	has_required(result.extensions.userMetadata)
}

has_required(metadata) if {
	every key, value in required {
		metadata[key] == value
	}
}
