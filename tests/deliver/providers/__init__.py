"""Tests of the Brevo, Mailjet and Postmark providers against fake APIs on loopback."""
