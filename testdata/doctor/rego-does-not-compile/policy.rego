package ratify.policy

valid {
