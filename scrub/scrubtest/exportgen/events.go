package exportgen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// event is one kind of custom event, drawn with a chance of its weight in
// the sum of all. values renders the Custom Values column; ref is the
// installation ID used where an event refers to another client.
type event struct {
	category, name string
	weight         int
	values         func(r *rand.Rand, ref string) string
}

// pairs joins key/value pairs in the export's Custom Values format
// "(Key1,Value1)&&(Key2,Value2)". Neither keys nor values are escaped,
// exactly like the real exports.
func pairs(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteString("&&")
		}
		b.WriteString("(" + kv[i] + "," + kv[i+1] + ")")
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

var (
	fileNames = []string{"Q3, final.pdf", "Budget 2018.pdf", "minutes-2017-11.pdf", "Angebot Müller.pdf", "report.pdf"}
	queries   = []string{"annual report", "invoice 2017", "Müller GmbH", "Q3, final", "roadmap"}
	formats   = []string{"ACD", "ACD", "DOCX", "PDF", "RTF"}
)

// inviteAccepted is the event whose ReferredBy value names another
// installation, which may be a listed one: a substring match on the listed
// ID drops a row that must stay.
var inviteAccepted = event{"Sharing", "Invite Accepted", 2, func(r *rand.Rand, ref string) string {
	return pairs("Channel", pick(r, []string{"Email", "Link"}), "ReferredBy", ref)
}}

var events = []event{
	{"Session", "Start", 14, func(r *rand.Rand, _ string) string {
		if r.IntN(3) == 0 {
			return pairs("Launch", pick(r, []string{"Shortcut", "File Association", "Start Menu"}))
		}
		return ""
	}},
	{"Session", "End", 12, func(r *rand.Rand, _ string) string {
		return pairs("Duration", itoa(30+r.IntN(14000)))
	}},
	{"Document", "Open", 12, func(r *rand.Rand, _ string) string {
		return pairs("Format", pick(r, formats), "Source", pick(r, []string{"Local", "Local", "Network", "Cloud"}))
	}},
	{"Document", "Save", 10, func(r *rand.Rand, _ string) string {
		return pairs("Format", "ACD", "Size", itoa(2000+r.IntN(5000000)))
	}},
	{"Document", "Export", 5, func(r *rand.Rand, _ string) string {
		return pairs("Format", "PDF", "Pages", itoa(1+r.IntN(60)), "FileName", pick(r, fileNames))
	}},
	{"Document", "Print", 3, func(r *rand.Rand, _ string) string {
		return pairs("Printer", pick(r, []string{"HP LaserJet Pro M402", "Microsoft Print to PDF", "Brother HL-L2350DW"}), "Copies", itoa(1+r.IntN(3)))
	}},
	{"Search", "Query", 6, func(r *rand.Rand, _ string) string {
		return pairs("Query", `"`+pick(r, queries)+`"`, "Results", itoa(r.IntN(40)))
	}},
	{"UI", "Theme Changed", 2, func(r *rand.Rand, _ string) string {
		return pairs("Theme", pick(r, []string{"Dark", "Light", "High Contrast"}))
	}},
	{"UI", "Toolbar Customized", 2, func(r *rand.Rand, _ string) string {
		return pairs("Buttons", itoa(6+r.IntN(20)))
	}},
	{"Licensing", "Trial Started", 1, func(*rand.Rand, string) string { return "" }},
	{"Licensing", "License Activated", 1, func(r *rand.Rand, _ string) string {
		return pairs("Seats", itoa(1+r.IntN(25)))
	}},
	{"Plugin", "Loaded", 4, func(r *rand.Rand, _ string) string {
		return pairs("Plugin", pick(r, []string{"Acme PDF Tools", "Acme Spellcheck", "Zotero Connector"}), "PluginVersion", "1.4.2")
	}},
	{"Sharing", "Invite Sent", 2, func(r *rand.Rand, _ string) string {
		return pairs("Channel", "Email", "Recipients", itoa(1+r.IntN(5)))
	}},
	inviteAccepted,
}

// exception is one kind of crash report. message may mention ref, another
// installation's ID; frames lists the stack, innermost first.
type exception struct {
	typ     string
	weight  int
	message func(r *rand.Rand, ref string) string
	frames  []string
}

var (
	userNames = []string{"jschmidt", "m.rossi", "akoch", "lmartin", "tanaka.y", "pdevries"}
	docNames  = []string{"Q3, final.acd", "Budget 2018.acd", "notes.acd", "Angebot \"Müller\".acd"}
)

// syncConflict is the exception whose message names another installation,
// which may be a listed one.
var syncConflict = exception{"Acme.Sync.SyncConflictException", 3,
	func(r *rand.Rand, ref string) string {
		return fmt.Sprintf(`Document "%s" is locked by installation %s, changes were saved as a copy.`,
			pick(r, []string{"Roadmap 2018.acd", "Team notes.acd", "Pricing, EMEA.acd"}), ref)
	},
	[]string{
		`at Acme.Sync.SyncClient.PushAsync(DocumentId id, CancellationToken token) in C:\src\Sync\SyncClient.cs:line 233`,
		`at Acme.Sync.SyncQueue.ProcessAsync() in C:\src\Sync\SyncQueue.cs:line 81`,
		`at System.Runtime.CompilerServices.TaskAwaiter.ThrowForNonSuccess(Task task)`,
		`at System.Runtime.CompilerServices.TaskAwaiter.HandleNonSuccessAndDebuggerNotification(Task task)`,
		`at Acme.Editor.Sync.SyncStatusViewModel.<RefreshAsync>d__12.MoveNext() in C:\src\Editor\Sync\SyncStatusViewModel.cs:line 57`,
		`at System.Runtime.CompilerServices.AsyncMethodBuilderCore.<>c.<ThrowAsync>b__6_0(Object state)`,
	},
}

func fixed(msg string) func(*rand.Rand, string) string {
	return func(*rand.Rand, string) string { return msg }
}

var exceptions = []exception{
	{"System.NullReferenceException", 10, fixed("Object reference not set to an instance of an object."), []string{
		`at Acme.Editor.Rendering.PageLayout.Measure(Size available) in C:\src\Editor\Rendering\PageLayout.cs:line 148`,
		`at Acme.Editor.Rendering.DocumentView.MeasureOverride(Size constraint) in C:\src\Editor\Rendering\DocumentView.cs:line 92`,
		`at System.Windows.FrameworkElement.MeasureCore(Size availableSize)`,
		`at System.Windows.UIElement.Measure(Size availableSize)`,
		`at System.Windows.ContextLayoutManager.UpdateLayout()`,
		`at System.Windows.Threading.ExceptionWrapper.InternalRealCall(Delegate callback, Object args, Int32 numArgs)`,
	}},
	{"System.IO.IOException", 8, func(r *rand.Rand, _ string) string {
		return fmt.Sprintf(`The process cannot access the file 'C:\Users\%s\Documents\%s' because it is being used by another process.`,
			pick(r, userNames), pick(r, docNames))
	}, []string{
		`at System.IO.__Error.WinIOError(Int32 errorCode, String maybeFullPath)`,
		`at System.IO.FileStream.Init(String path, FileMode mode, FileAccess access, Int32 rights, Boolean useRights, FileShare share, Int32 bufferSize, FileOptions options, SECURITY_ATTRIBUTES secAttrs, String msgPath, Boolean bFromProxy, Boolean useLongPath, Boolean checkHost)`,
		`at System.IO.FileStream..ctor(String path, FileMode mode, FileAccess access)`,
		`at Acme.Editor.Document.Save(String path) in C:\src\Editor\Document.cs:line 211`,
		`at Acme.Editor.Commands.SaveCommand.Execute(Object parameter) in C:\src\Editor\Commands\SaveCommand.cs:line 37`,
		`at Acme.Editor.MainWindow.OnSaveClicked(Object sender, RoutedEventArgs e) in C:\src\Editor\MainWindow.xaml.cs:line 412`,
	}},
	{"System.UnauthorizedAccessException", 4, fixed(`Access to the path 'C:\Program Files\Acme\Editor\settings.xml' is denied.`), []string{
		`at System.IO.__Error.WinIOError(Int32 errorCode, String maybeFullPath)`,
		`at System.IO.File.InternalWriteAllText(String path, String contents, Encoding encoding, Boolean checkHost)`,
		`at Acme.Editor.Settings.SettingsStore.Flush() in C:\src\Editor\Settings\SettingsStore.cs:line 88`,
		`at Acme.Editor.Settings.SettingsStore.Set(String key, Object value) in C:\src\Editor\Settings\SettingsStore.cs:line 54`,
		`at Acme.Editor.UI.PreferencesDialog.OnOk(Object sender, RoutedEventArgs e) in C:\src\Editor\UI\PreferencesDialog.xaml.cs:line 131`,
		`at System.Windows.RoutedEventHandlerInfo.InvokeHandler(Object target, RoutedEventArgs routedEventArgs)`,
	}},
	{"System.Xml.XmlException", 3, fixed(`'"' is an unexpected token. The expected token is '='. Line 4, position 23.`), []string{
		`at System.Xml.XmlTextReaderImpl.Throw(Exception e)`,
		`at System.Xml.XmlTextReaderImpl.ParseAttributes()`,
		`at System.Xml.XmlTextReaderImpl.ParseElement()`,
		`at System.Xml.XmlTextReaderImpl.Read()`,
		`at Acme.Editor.Plugins.PluginManifest.Load(String path) in C:\src\Editor\Plugins\PluginManifest.cs:line 63`,
		`at Acme.Editor.Plugins.PluginHost.Discover(String directory) in C:\src\Editor\Plugins\PluginHost.cs:line 120`,
	}},
	{"Acme.Editor.Tables.CellFormatException", 4, func(r *rand.Rand, _ string) string {
		return fmt.Sprintf(`Cell %c%d: value "%s" is not a valid number in culture "en-US".`,
			'A'+rune(r.IntN(8)), 1+r.IntN(40), pick(r, []string{"1.234,56", "12,5", "n/a", "3,000.00 €"}))
	}, []string{
		`at System.Number.ParseDouble(String value, NumberStyles options, NumberFormatInfo numfmt)`,
		`at System.Double.Parse(String s, IFormatProvider provider)`,
		`at Acme.Editor.Tables.CellValue.Parse(String text) in C:\src\Editor\Tables\CellValue.cs:line 47`,
		`at Acme.Editor.Tables.TableCell.Commit() in C:\src\Editor\Tables\TableCell.cs:line 163`,
		`at Acme.Editor.Tables.TableView.OnCellEditEnding(Object sender, DataGridCellEditEndingEventArgs e) in C:\src\Editor\Tables\TableView.xaml.cs:line 298`,
		`at System.Windows.Controls.DataGrid.OnCellEditEnding(DataGridCellEditEndingEventArgs e)`,
	}},
	{"System.ArgumentNullException", 3, fixed("Value cannot be null.\nParameter name: path"), []string{
		`at System.IO.Path.Combine(String path1, String path2)`,
		`at Acme.Editor.Recent.RecentFiles.Add(String directory, String fileName) in C:\src\Editor\Recent\RecentFiles.cs:line 29`,
		`at Acme.Editor.Document.Open(String path) in C:\src\Editor\Document.cs:line 96`,
		`at Acme.Editor.Commands.OpenCommand.Execute(Object parameter) in C:\src\Editor\Commands\OpenCommand.cs:line 44`,
		`at Acme.Editor.MainWindow.OnOpenClicked(Object sender, RoutedEventArgs e) in C:\src\Editor\MainWindow.xaml.cs:line 398`,
		`at System.Windows.RoutedEventHandlerInfo.InvokeHandler(Object target, RoutedEventArgs routedEventArgs)`,
	}},
	{"Acme.Licensing.LicenseServerException", 2, func(r *rand.Rand, _ string) string {
		return fmt.Sprintf(`License server returned "%s", retrying in %d s.`,
			pick(r, []string{"503 Service Unavailable", "504 Gateway Timeout"}), 30*(1+r.IntN(4)))
	}, []string{
		`at Acme.Licensing.LicenseClient.Validate(String key) in C:\src\Licensing\LicenseClient.cs:line 142`,
		`at Acme.Licensing.LicenseManager.CheckOnline() in C:\src\Licensing\LicenseManager.cs:line 77`,
		`at Acme.Editor.App.OnStartup(StartupEventArgs e) in C:\src\Editor\App.xaml.cs:line 35`,
		`at System.Windows.Application.<.ctor>b__1_0(Object unused)`,
		`at System.Windows.Threading.ExceptionWrapper.InternalRealCall(Delegate callback, Object args, Int32 numArgs)`,
		`at System.Windows.Threading.ExceptionWrapper.TryCatchWhen(Object source, Delegate callback, Object args, Int32 numArgs, Delegate catchHandler)`,
	}},
	{"System.OutOfMemoryException", 1, fixed("Exception of type 'System.OutOfMemoryException' was thrown."), []string{
		`at System.Windows.Media.Imaging.BitmapSource.CriticalCopyPixels(Int32Rect sourceRect, IntPtr buffer, Int32 bufferSize, Int32 stride)`,
		`at System.Windows.Media.Imaging.WriteableBitmap..ctor(BitmapSource source)`,
		`at Acme.Editor.Export.PdfExporter.RenderPage(Page page, Int32 dpi) in C:\src\Editor\Export\PdfExporter.cs:line 174`,
		`at Acme.Editor.Export.PdfExporter.Export(Document doc, String path) in C:\src\Editor\Export\PdfExporter.cs:line 61`,
		`at Acme.Editor.Commands.ExportCommand.Execute(Object parameter) in C:\src\Editor\Commands\ExportCommand.cs:line 52`,
		`at Acme.Editor.MainWindow.OnExportClicked(Object sender, RoutedEventArgs e) in C:\src\Editor\MainWindow.xaml.cs:line 430`,
	}},
	syncConflict,
}

// stackTrace renders the innermost 3 to 6 frames, one per line, indented as
// .NET does: a quoted field that spans lines.
func stackTrace(r *rand.Rand, frames []string) string {
	n := 3 + r.IntN(4)
	lines := make([]string, n)
	for i, f := range frames[:n] {
		lines[i] = "   " + f
	}
	return strings.Join(lines, "\n")
}

func eventWeight(i int) int     { return events[i].weight }
func exceptionWeight(i int) int { return exceptions[i].weight }

// The sums of the weights, which weighted draws from.
var (
	eventWeights     = sumWeights(len(events), eventWeight)
	exceptionWeights = sumWeights(len(exceptions), exceptionWeight)
)

func sumWeights(n int, w func(int) int) int {
	t := 0
	for i := range n {
		t += w(i)
	}
	return t
}

// weighted returns an index into a list whose i-th entry has weight w(i)
// and whose weights sum to total. It draws one value from r.
func weighted(r *rand.Rand, total int, w func(int) int) int {
	x := r.IntN(total)
	for i := 0; ; i++ {
		if x -= w(i); x < 0 {
			return i
		}
	}
}
