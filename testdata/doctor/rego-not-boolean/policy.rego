package ratify.policy

valid := count(input.verifierReports)
