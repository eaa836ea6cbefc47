"""The issue stage: everything about one issue folder ``bulletins/DATE/``.

folder (issue.md: create, read, approve), editor_items (the editors' ``*.md`` items), draft
(``collected.yaml``: merge, read back), curate (the Issue as the editors left it) and prepare
(the Issue rendered and checked, for every face). Collect writes its draft through here; this
package never imports collect or deliver.
"""
