import Foundation
import Hummingbird

/// The dashboard's words in English and German, chosen by the `orrery_lang` cookie (the
/// page's toggle) or else the browser's `Accept-Language`. A word without a German entry is
/// shown in English; module descriptions come from the modules themselves (`en-US`, `de-DE`).
struct DashboardText: Sendable {
    enum Language: String, Sendable {
        case en, de
        var other: Language { self == .en ? .de : .en }
        /// The module description locale this language reads first.
        var locale: String { self == .en ? "en-US" : "de-DE" }
    }

    let language: Language

    subscript(_ key: String) -> String {
        language == .de ? (Self.german[key] ?? key) : key
    }

    /// A module's description in this language, else English, else any.
    func pick(_ localized: [String: String]) -> String {
        if let exact = localized[language.locale] { return exact }
        if let same = localized.first(where: { $0.key.hasPrefix(language.rawValue) })?.value { return same }
        return localized["en-US"] ?? localized.values.sorted().first ?? ""
    }

    static func choose(_ request: Request) -> DashboardText {
        if let cookie = request.cookies[DashboardCookie.language]?.value, let language = Language(rawValue: cookie) {
            return DashboardText(language: language)
        }
        // The first supported language in the header's order (q-values are rarely reordered).
        let header = request.headers[.acceptLanguage] ?? ""
        for part in header.split(separator: ",") {
            let tag = part.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
            if tag.hasPrefix("de") { return DashboardText(language: .de) }
            if tag.hasPrefix("en") { return DashboardText(language: .en) }
        }
        return DashboardText(language: .en)
    }

    static let german: [String: String] = [
        "Overview": "Übersicht", "Tasks": "Aufgaben", "Runs": "Läufe", "Modules": "Module",
        "Tokens & users": "Tokens & Benutzer", "Main": "Hauptnavigation", "Toggle dark mode": "Dunkelmodus umschalten",
        "Language": "Sprache", "Sign out": "Abmelden", "Sign in": "Anmelden", "Skip to content": "Zum Inhalt springen",
        "API token": "API-Token", "scheduled": "geplant", "active": "läuft", "complete": "fertig", "failed": "fehlgeschlagen",
        "canceled": "abgebrochen", "skipped": "übersprungen", "Parameters": "Parameter", "Description": "Beschreibung",
        "Name": "Name", "Type": "Typ", "Required": "Pflicht", "Default": "Standard", "yes": "ja", "no": "nein",
        "Right needed": "Benötigtes Recht", "Running now": "Läuft gerade", "Next fires": "Nächste Ausführungen",
        "Failures today": "Fehler heute", "Runs, last 24 hours": "Läufe der letzten 24 Stunden", "Filter": "Filtern",
        "Status": "Status", "Module": "Modul", "Task": "Aufgabe", "Trigger": "Auslöser", "Schedule": "Zeitplan",
        "Next fire": "Nächste Ausführung", "Last 20 runs": "Letzte 20 Läufe", "Pause": "Pausieren", "Resume": "Fortsetzen",
        "Run now": "Jetzt ausführen", "Cancel": "Abbrechen", "Dismiss": "Ausblenden", "Delete": "Löschen",
        "Create task": "Aufgabe anlegen", "Save": "Speichern", "Next page": "Nächste Seite", "First page": "Erste Seite",
        "Log": "Protokoll", "Result": "Ergebnis", "Error": "Fehler", "Attempts": "Versuche", "Enabled": "Aktiv",
        "Paused": "Pausiert", "Nothing here.": "Nichts vorhanden.", "Scheduled": "Geplant", "Started": "Gestartet",
        "Finished": "Beendet", "Progress": "Fortschritt", "Edit": "Bearbeiten", "Run history": "Verlauf",
        "Selected": "Ausgewählt", "success": "Erfolg", "failure": "Fehler", "Tokens": "Tokens", "Users": "Benutzer",
        "Role": "Rolle", "Project": "Projekt", "Revoke": "Widerrufen", "Create token": "Token anlegen",
        "Create user": "Benutzer anlegen", "Disable": "Deaktivieren", "Dismissed": "Ausgeblendet", "from": "von",
        "to": "bis", "Label": "Label", "Any": "Alle", "Clear": "Zurücksetzen",
    ]
}
