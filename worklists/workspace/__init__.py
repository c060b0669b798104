"""The CRM workspace on the web: record pages and API, the customer 360, My activities, start
forms and global search (issue 18). Web code that calls both the engine facade and the
handlers' record services; the engine and the handlers stay apart."""
