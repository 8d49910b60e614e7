// The Jinja subset chat templates use, and rendering conversations (DESIGN.md §2).
