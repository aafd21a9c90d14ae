package dashboard

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// langs are the languages the pages speak; the first is the fallback.
var langs = []string{"en", "de"}

// pickLang chooses the page language: a ?lang= switch, then the lang
// cookie, then Accept-Language (q-values honoured), then English.
func pickLang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); known(l) {
		return l
	}
	if c, err := r.Cookie("pg_lang"); err == nil && known(c.Value) {
		return c.Value
	}
	return acceptLanguage(r.Header.Get("Accept-Language"))
}

func known(l string) bool { return l == "en" || l == "de" }

// acceptLanguage returns the best of langs for an Accept-Language header.
func acceptLanguage(h string) string {
	type cand struct {
		lang string
		q    float64
		pos  int
	}
	var cs []cand
	for i, part := range strings.Split(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if known(base) && q > 0 {
			cs = append(cs, cand{base, q, i})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].q > cs[j].q })
	if len(cs) > 0 {
		return cs[0].lang
	}
	return langs[0]
}

// T translates key into lang; a missing key shows itself so a test finds it.
func T(lang, key string) string {
	if m, ok := messages[key]; ok {
		if s, ok := m[lang]; ok {
			return s
		}
		return m["en"]
	}
	return key
}

// messages: key → language → text.
var messages = map[string]map[string]string{
	"app.title":        {"en": "Charging", "de": "Laden"},
	"point.power":      {"en": "Max. power", "de": "Max. Leistung"},
	"point.connector":  {"en": "Connector", "de": "Stecker"},
	"point.prices":     {"en": "Prices (incl. VAT)", "de": "Preise (inkl. MwSt.)"},
	"point.hold":       {"en": "Your card is reserved for up to %s; you pay only what you charge.", "de": "Auf Ihrer Karte werden bis zu %s vorgemerkt; Sie zahlen nur, was Sie laden."},
	"tariff.eco":       {"en": "Eco: cheaper, charges when there is room", "de": "Eco: günstiger, lädt wenn Platz ist"},
	"tariff.premium":   {"en": "Premium: charges first", "de": "Premium: lädt zuerst"},
	"unit.kWh":         {"en": "per kWh", "de": "pro kWh"},
	"unit.min":         {"en": "per minute", "de": "pro Minute"},
	"unit.min.after":   {"en": "per minute after %d min", "de": "pro Minute nach %d Min."},
	"unit.session":     {"en": "per session", "de": "pro Ladevorgang"},
	"unit.cap":         {"en": "at most per session", "de": "höchstens pro Ladevorgang"},
	"form.email":       {"en": "E-mail for the receipt", "de": "E-Mail für die Quittung"},
	"form.pay":         {"en": "Payment", "de": "Bezahlung"},
	"form.pay.card":    {"en": "Card, Apple Pay, Google Pay", "de": "Karte, Apple Pay, Google Pay"},
	"form.pay.paypal":  {"en": "PayPal", "de": "PayPal"},
	"form.pay.code":    {"en": "Access code", "de": "Zugangscode"},
	"form.code":        {"en": "Code", "de": "Code"},
	"form.tariff":      {"en": "Tariff", "de": "Tarif"},
	"form.start":       {"en": "Charge here", "de": "Hier laden"},
	"session.title":    {"en": "Your charging session", "de": "Ihr Ladevorgang"},
	"session.energy":   {"en": "Energy", "de": "Energie"},
	"session.power":    {"en": "Power", "de": "Leistung"},
	"session.duration": {"en": "Duration", "de": "Dauer"},
	"session.cost":     {"en": "Cost so far", "de": "Kosten bisher"},
	"session.stop":     {"en": "End charging", "de": "Laden beenden"},
	"session.receipt":  {"en": "Download receipt (PDF)", "de": "Quittung herunterladen (PDF)"},
	"session.waiting":  {"en": "Waiting for the car…", "de": "Warte auf das Fahrzeug …"},
	"state.created":    {"en": "Waiting for payment", "de": "Warte auf Zahlung"},
	"state.authorized": {"en": "Ready: plug in", "de": "Bereit: bitte einstecken"},
	"state.charging":   {"en": "Charging", "de": "Lädt"},
	"state.stopping":   {"en": "Stopping", "de": "Wird beendet"},
	"state.completed":  {"en": "Done", "de": "Fertig"},
	"state.invoiced":   {"en": "Done, receipt sent", "de": "Fertig, Quittung gesendet"},
	"state.failed":     {"en": "Ended with an error", "de": "Mit Fehler beendet"},
	"state.cancelled":  {"en": "Cancelled", "de": "Abgebrochen"},
	"err.title":        {"en": "Sorry", "de": "Entschuldigung"},
	"err.offline":      {"en": "This charge point is offline right now. Nothing was charged to you. Please try another one.", "de": "Dieser Ladepunkt ist gerade nicht erreichbar. Es wurde nichts berechnet. Bitte nehmen Sie einen anderen."},
	"err.faulted":      {"en": "This charge point has a fault and cannot charge. The operator has been told.", "de": "Dieser Ladepunkt hat eine Störung und kann nicht laden. Der Betreiber ist informiert."},
	"err.occupied":     {"en": "This charge point is in use. Please pick a free one.", "de": "Dieser Ladepunkt ist belegt. Bitte wählen Sie einen freien."},
	"err.declined":     {"en": "Your payment was declined. Nothing was charged. Try another card or PayPal.", "de": "Ihre Zahlung wurde abgelehnt. Es wurde nichts berechnet. Versuchen Sie eine andere Karte oder PayPal."},
	"err.codeexpired":  {"en": "This access code has expired or is used up.", "de": "Dieser Zugangscode ist abgelaufen oder aufgebraucht."},
	"err.codeinvalid":  {"en": "This access code is not known.", "de": "Dieser Zugangscode ist unbekannt."},
	"err.notfound":     {"en": "There is no charge point with this code. Check the sign on the charger.", "de": "Es gibt keinen Ladepunkt mit diesem Code. Bitte prüfen Sie das Schild am Ladepunkt."},
	"err.input":        {"en": "Please check your entries.", "de": "Bitte prüfen Sie Ihre Eingaben."},
	"err.internal":     {"en": "Something went wrong on our side. Please try again.", "de": "Bei uns ist ein Fehler aufgetreten. Bitte versuchen Sie es erneut."},
	"err.csrf":         {"en": "The form expired. Please reload the page and try again.", "de": "Das Formular ist abgelaufen. Bitte laden Sie die Seite neu."},
	"err.forbidden":    {"en": "Your role does not allow this.", "de": "Ihre Rolle erlaubt das nicht."},
	"err.back":         {"en": "Back", "de": "Zurück"},
	"offline.title":    {"en": "No network", "de": "Kein Netz"},
	"offline.text":     {"en": "Your phone has no connection. Charging goes on; the page updates when the network is back.", "de": "Ihr Telefon hat keine Verbindung. Das Laden läuft weiter; die Seite aktualisiert sich, wenn das Netz zurück ist."},
	"footer.imprint":   {"en": "Imprint", "de": "Impressum"},
	"footer.terms":     {"en": "Terms", "de": "AGB"},
	"login.title":      {"en": "Operator login", "de": "Betreiber-Anmeldung"},
	"login.email":      {"en": "E-mail", "de": "E-Mail"},
	"login.password":   {"en": "Password", "de": "Passwort"},
	"login.submit":     {"en": "Log in", "de": "Anmelden"},
	"login.bad":        {"en": "Wrong e-mail or password.", "de": "E-Mail oder Passwort falsch."},
	"login.limited":    {"en": "Too many attempts. Try again in a few minutes.", "de": "Zu viele Versuche. Bitte in einigen Minuten erneut."},
	"nav.overview":     {"en": "Sites", "de": "Standorte"},
	"nav.alarms":       {"en": "Alarms", "de": "Alarme"},
	"nav.sessions":     {"en": "Sessions", "de": "Ladevorgänge"},
	"nav.load":         {"en": "Load", "de": "Last"},
	"nav.tariffs":      {"en": "Tariffs", "de": "Tarife"},
	"nav.codes":        {"en": "Access codes", "de": "Zugangscodes"},
	"nav.users":        {"en": "Users", "de": "Benutzer"},
	"nav.reports":      {"en": "Reports", "de": "Berichte"},
	"nav.branding":     {"en": "Branding", "de": "Erscheinungsbild"},
	"nav.audit":        {"en": "Audit log", "de": "Protokoll"},
	"nav.qr":           {"en": "QR/NFC sheet", "de": "QR/NFC-Bogen"},
	"nav.logout":       {"en": "Log out", "de": "Abmelden"},
	"alarm.reset":      {"en": "Reset", "de": "Zurücksetzen"},
	"alarm.none":       {"en": "No alarms.", "de": "Keine Alarme."},
	"alarm.resetdone":  {"en": "Alarm reset.", "de": "Alarm zurückgesetzt."},
	"tariff.save":      {"en": "Save", "de": "Speichern"},
	"tariff.saved":     {"en": "Tariff saved.", "de": "Tarif gespeichert."},
	"code.create":      {"en": "Create code", "de": "Code anlegen"},
	"code.revoke":      {"en": "Revoke", "de": "Sperren"},
	"code.setgroup":    {"en": "Set group", "de": "Gruppe setzen"},
	"code.nogroup":     {"en": "No group", "de": "Ohne Gruppe"},
	"col.group":        {"en": "Group", "de": "Gruppe"},
	"user.create":      {"en": "Add user", "de": "Benutzer anlegen"},
	"user.update":      {"en": "Change", "de": "Ändern"},
	"user.disabled":    {"en": "disabled", "de": "gesperrt"},
	"user.self":        {"en": "You cannot change your own account here.", "de": "Das eigene Konto kann hier nicht geändert werden."},
	"brand.save":       {"en": "Save branding", "de": "Erscheinungsbild speichern"},
	"brand.saved":      {"en": "Branding saved.", "de": "Erscheinungsbild gespeichert."},
	"col.accent":       {"en": "Accent colour", "de": "Akzentfarbe"},
	"col.background":   {"en": "Background (PNG, JPEG, WebP; ≤ 2 MiB)", "de": "Hintergrund (PNG, JPEG, WebP; ≤ 2 MiB)"},
	"col.cap":          {"en": "cap", "de": "Deckel"},
	"col.circuit":      {"en": "Circuit", "de": "Stromkreis"},
	"col.class":        {"en": "Class", "de": "Klasse"},
	"col.cost":         {"en": "Cost", "de": "Kosten"},
	"col.current":      {"en": "Current", "de": "Strom"},
	"col.detail":       {"en": "Detail", "de": "Details"},
	"col.expires":      {"en": "Expires", "de": "Läuft ab"},
	"col.faults":       {"en": "Faults", "de": "Störungen"},
	"col.freemin":      {"en": "free minutes", "de": "Freiminuten"},
	"col.imprint":      {"en": "Imprint link (https)", "de": "Link zum Impressum (https)"},
	"col.ip":           {"en": "IP", "de": "IP"},
	"col.kind":         {"en": "Kind", "de": "Art"},
	"col.label":        {"en": "Label", "de": "Bezeichnung"},
	"col.limit":        {"en": "Limit", "de": "Grenze"},
	"col.logo":         {"en": "Logo (PNG, JPEG, WebP; ≤ 256 KiB)", "de": "Logo (PNG, JPEG, WebP; ≤ 256 KiB)"},
	"col.name":         {"en": "Name", "de": "Name"},
	"col.phases":       {"en": "Phases", "de": "Phasen"},
	"col.point":        {"en": "Point", "de": "Ladepunkt"},
	"col.primary":      {"en": "Primary colour", "de": "Hauptfarbe"},
	"col.role":         {"en": "Role", "de": "Rolle"},
	"col.session":      {"en": "Session", "de": "Ladevorgang"},
	"col.since":        {"en": "Since", "de": "Seit"},
	"col.site":         {"en": "Site", "de": "Standort"},
	"col.startfee":     {"en": "start fee", "de": "Startgebühr"},
	"col.state":        {"en": "State", "de": "Zustand"},
	"col.target":       {"en": "Target", "de": "Ziel"},
	"col.terms":        {"en": "Terms link (https)", "de": "Link zu den AGB (https)"},
	"col.used":         {"en": "Used", "de": "Genutzt"},
	"col.uses":         {"en": "Uses (−1 = unlimited)", "de": "Nutzungen (−1 = unbegrenzt)"},
	"col.usesleft":     {"en": "Uses left", "de": "Verbleibende Nutzungen"},
	"col.validuntil":   {"en": "Valid until", "de": "Gültig bis"},
	"col.vat":          {"en": "VAT %", "de": "MwSt. %"},
	"col.what":         {"en": "What", "de": "Was"},
	"col.when":         {"en": "When", "de": "Wann"},
	"col.who":          {"en": "Who", "de": "Wer"},
	"load.binding":     {"en": "binding:", "de": "begrenzt durch:"},
	"load.effective":   {"en": "Effective limit per phase:", "de": "Wirksame Grenze je Phase:"},
	"report.chart":     {"en": "kWh per day and site", "de": "kWh je Tag und Standort"},
	"err.toolarge":     {"en": "The upload is too large.", "de": "Die Datei ist zu groß."},
	"saved":            {"en": "Saved.", "de": "Gespeichert."},
}
