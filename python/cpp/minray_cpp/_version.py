version = "0.1.0"
commit = "{{COMMIT_SHA}}"
