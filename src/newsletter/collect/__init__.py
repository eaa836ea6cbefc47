"""The collect stage: fetch sources (fetch), normalize items (parse, clean), pick the week's
items (select), remember each feed (state), and merge them into the issue's draft through the
issue stage (run).
"""
