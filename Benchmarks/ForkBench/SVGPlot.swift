// A small writer of standalone SVG plots: line plots on log or linear axes (fork time vs files,
// latency CDFs) and grouped bar charts (bytes per fork). No dependencies, deterministic output.

import Foundation

struct PlotSeries {
    var name: String
    var points: [(x: Double, y: Double)]
    /// Thicker line (AetherFS).
    var emphasized = false
    var dashed = false
}

enum LegendPlacement {
    /// Outside the plot area, to its right (never covers data).
    case right
    case topLeft
    case bottomRight
}

/// Width of a legend box for these names (12 px sans-serif, about 6.6 px per character).
private func legendWidth(_ names: [String]) -> Double { 40 + Double(names.map(\.count).max() ?? 0) * 6.6 }

/// Okabe–Ito colours (distinguishable with colour-blindness), AetherFS first.
let plotPalette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999"]

func xmlEscape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}

private func f1(_ x: Double) -> String { String(format: "%.1f", x) }

// MARK: - Axes

struct PlotAxis {
    let lo: Double
    let hi: Double
    let log: Bool

    /// An axis covering `values`: whole decades when logarithmic, a "nice" range from 0 otherwise.
    init(values: [Double], log: Bool, lo forcedLo: Double? = nil, hi forcedHi: Double? = nil) {
        self.log = log
        let vs = values.filter { $0.isFinite && (!log || $0 > 0) }
        var mn = vs.min() ?? (log ? 1 : 0)
        var mx = vs.max() ?? (log ? 10 : 1)
        if log {
            var a = pow(10, floor(log10(mn)))
            var b = pow(10, ceil(log10(mx)))
            if b <= a { b = a * 10 }
            if let forcedLo, forcedLo > 0 { a = forcedLo }
            if let forcedHi, forcedHi > a { b = forcedHi }
            lo = a
            hi = b
        } else {
            if mn > 0 { mn = 0 }
            if mx <= mn { mx = mn + 1 }
            let step = PlotAxis.niceStep((mx - mn) / 5)
            lo = forcedLo ?? floor(mn / step) * step
            hi = forcedHi ?? ceil(mx / step) * step
        }
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0 && raw.isFinite else { return 1 }
        let e = pow(10, floor(log10(raw)))
        let f = raw / e
        let nice: Double = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10
        return nice * e
    }

    /// Position of `v` along the axis, 0…1.
    func fraction(_ v: Double) -> Double {
        if log {
            guard v > 0 else { return 0 }
            return (log10(v) - log10(lo)) / (log10(hi) - log10(lo))
        }
        return (v - lo) / (hi - lo)
    }

    /// Labelled ticks and unlabelled minor ticks.
    func ticks() -> (major: [Double], minor: [Double]) {
        if log {
            let d0 = Int(floor(log10(lo) + 1e-9))
            let d1 = Int(ceil(log10(hi) - 1e-9))
            let decades = d1 - d0
            var major: [Double] = []
            var minor: [Double] = []
            let labelEvery = decades > 8 ? 2 : 1
            for d in d0...d1 {
                let base = pow(10, Double(d))
                if (d - d0) % labelEvery == 0 { major.append(base) } else { minor.append(base) }
                guard d < d1 else { break }
                for m in 2...9 {
                    let v = base * Double(m)
                    if decades <= 2 && (m == 2 || m == 5) { major.append(v) } else { minor.append(v) }
                }
            }
            let inRange = { (v: Double) in v >= lo * 0.999 && v <= hi * 1.001 }
            return (major.filter(inRange), minor.filter(inRange))
        }
        let step = PlotAxis.niceStep((hi - lo) / 5)
        var major: [Double] = []
        var v = lo
        while v <= hi + step * 1e-6 {
            major.append(v)
            v += step
        }
        return (major, [])
    }
}

/// Tick label for counts: 100, 1k, 10k, 1M.
func axisCount(_ v: Double) -> String {
    if v >= 1e6 { return trimNumber(v / 1e6) + "M" }
    if v >= 1e3 { return trimNumber(v / 1e3) + "k" }
    return trimNumber(v)
}

/// Tick label for microseconds: 10 µs, 1 ms, 2 s.
func axisMicros(_ us: Double) -> String {
    if us >= 1e6 { return trimNumber(us / 1e6) + " s" }
    if us >= 1e3 { return trimNumber(us / 1e3) + " ms" }
    return trimNumber(us) + " µs"
}

/// Tick label for bytes in decimal units (so log ticks at powers of ten read 10 kB, 1 MB).
func axisBytes(_ b: Double) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"]
    var v = b
    var i = 0
    while v >= 1000 && i < units.count - 1 {
        v /= 1000
        i += 1
    }
    return trimNumber(v) + " " + units[i]
}

func axisPercent(_ v: Double) -> String { trimNumber(v * 100) + " %" }

func trimNumber(_ v: Double) -> String {
    if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
    if abs(v) >= 10 { return String(format: "%.0f", v) }
    let s = String(format: "%.2f", v)
    var t = s
    while t.hasSuffix("0") { t.removeLast() }
    if t.hasSuffix(".") { t.removeLast() }
    return t
}

// MARK: - Line plot

struct LinePlot {
    var title: String
    var xLabel: String
    var yLabel: String
    var series: [PlotSeries]
    var logX = true
    var logY = true
    var xTick: (Double) -> String = axisCount
    var yTick: (Double) -> String = axisMicros
    var yLo: Double?
    var yHi: Double?
    var legend = LegendPlacement.right
    var markers = true
    var subtitle: String?
    var width = 900.0
    var height = 480.0

    func svg() -> String {
        let names = series.filter { !$0.points.isEmpty }.map(\.name)
        let left = 84.0, top = subtitle == nil ? 46.0 : 62.0, bottom = 62.0
        let right = legend == .right ? legendWidth(names) + 36 : 24.0
        let pw = width - left - right
        let ph = height - top - bottom
        let all = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) && (!logY || $0.y > 0) }
        var s = svgHeader(width: width, height: height, title: title, subtitle: subtitle)
        guard !all.isEmpty else {
            s += "<text x=\"\(f1(width / 2))\" y=\"\(f1(height / 2))\" text-anchor=\"middle\" fill=\"#666\">no data in this run</text>\n</svg>\n"
            return s
        }
        let xa = PlotAxis(values: all.map(\.x), log: logX)
        let ya = PlotAxis(values: all.map(\.y), log: logY, lo: yLo, hi: yHi)
        let px = { (v: Double) in left + xa.fraction(v) * pw }
        let py = { (v: Double) in top + ph - ya.fraction(v) * ph }

        s += gridAndAxes(xa: xa, ya: ya, left: left, top: top, pw: pw, ph: ph, xTick: xTick, yTick: yTick)
        s += axisTitles(xLabel: xLabel, yLabel: yLabel, left: left, top: top, pw: pw, ph: ph)

        // Series.
        s += "<g clip-path=\"url(#plotarea)\">\n"
        for (i, ser) in series.enumerated() {
            let color = plotPalette[i % plotPalette.count]
            let pts = ser.points.filter { $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) && (!logY || $0.y > 0) }
                .sorted { $0.x < $1.x }
            guard !pts.isEmpty else { continue }
            let width = ser.emphasized ? 3.0 : 1.8
            let dash = ser.dashed ? " stroke-dasharray=\"6 4\"" : ""
            let d = pts.enumerated().map { (j, p) in (j == 0 ? "M" : "L") + f1(px(p.x)) + " " + f1(py(p.y)) }.joined(separator: " ")
            s += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(width)\"\(dash) stroke-linejoin=\"round\"/>\n"
            if markers && pts.count <= 40 {
                for p in pts {
                    s += "<circle cx=\"\(f1(px(p.x)))\" cy=\"\(f1(py(p.y)))\" r=\"\(ser.emphasized ? 4 : 3)\" fill=\"\(color)\"/>\n"
                }
            }
        }
        s += "</g>\n"
        s += legendBox(series.enumerated().compactMap { (i, ser) in
            ser.points.isEmpty ? nil : (ser.name, plotPalette[i % plotPalette.count], ser.dashed, ser.emphasized)
        }, placement: legend, left: left, top: top, pw: pw, ph: ph)
        s += "</svg>\n"
        return s
    }
}

// MARK: - Grouped bar chart

struct BarChart {
    var title: String
    var yLabel: String
    /// Groups along x (e.g. repositories).
    var groups: [String]
    /// One bar per series in each group; nil = not measured.
    var series: [(name: String, values: [Double?])]
    var logY = true
    var yTick: (Double) -> String = axisBytes
    var valueLabel: (Double) -> String = axisBytes
    var subtitle: String?
    var width = 900.0
    var height = 480.0

    func svg() -> String {
        let left = 84.0, top = subtitle == nil ? 46.0 : 62.0, bottom = 62.0
        let right = legendWidth(series.map(\.name)) + 36
        let pw = width - left - right
        let ph = height - top - bottom
        var s = svgHeader(width: width, height: height, title: title, subtitle: subtitle)
        let values = series.flatMap { $0.values.compactMap { $0 } }.filter { $0.isFinite && (!logY || $0 > 0) }
        guard !values.isEmpty, !groups.isEmpty else {
            s += "<text x=\"\(f1(width / 2))\" y=\"\(f1(height / 2))\" text-anchor=\"middle\" fill=\"#666\">no data in this run</text>\n</svg>\n"
            return s
        }
        // Log bars start a decade below the smallest value (so it stays visible), with headroom above
        // the tallest bar for its value label.
        let ya: PlotAxis = {
            guard logY, let mn = values.min(), let mx = values.max() else { return PlotAxis(values: values, log: logY) }
            let base = PlotAxis(values: values + [mn / 10], log: true)
            return mx > base.hi / 2 ? PlotAxis(values: values + [mn / 10], log: true, hi: base.hi * 10) : base
        }()
        let py = { (v: Double) in top + ph - ya.fraction(v) * ph }
        s += gridAndAxes(xa: nil, ya: ya, left: left, top: top, pw: pw, ph: ph, xTick: { _ in "" }, yTick: yTick)
        s += axisTitles(xLabel: "", yLabel: yLabel, left: left, top: top, pw: pw, ph: ph)

        let groupW = pw / Double(groups.count)
        let inner = groupW * 0.8
        let barW = inner / Double(max(1, series.count))
        for (g, name) in groups.enumerated() {
            let gx = left + Double(g) * groupW + (groupW - inner) / 2
            s += "<text x=\"\(f1(left + (Double(g) + 0.5) * groupW))\" y=\"\(f1(top + ph + 20))\" text-anchor=\"middle\">\(xmlEscape(name))</text>\n"
            for (k, ser) in series.enumerated() {
                let x = gx + Double(k) * barW
                let color = plotPalette[k % plotPalette.count]
                guard g < ser.values.count, let v = ser.values[g], v.isFinite, !logY || v > 0 else {
                    s += "<text x=\"\(f1(x + barW / 2))\" y=\"\(f1(top + ph - 4))\" text-anchor=\"middle\" font-size=\"9\" fill=\"#888\">n/a</text>\n"
                    continue
                }
                let y = py(v)
                let h = top + ph - y
                s += "<rect x=\"\(f1(x + 1))\" y=\"\(f1(y))\" width=\"\(f1(max(1, barW - 2)))\" height=\"\(f1(max(0, h)))\" fill=\"\(color)\"/>\n"
                s += "<text x=\"\(f1(x + barW / 2))\" y=\"\(f1(y - 4))\" text-anchor=\"middle\" font-size=\"9\">\(xmlEscape(valueLabel(v)))</text>\n"
            }
        }
        s += legendBox(series.enumerated().map { (k, ser) in (ser.name, plotPalette[k % plotPalette.count], false, false) },
                       placement: .right, left: left, top: top, pw: pw, ph: ph, swatch: true)
        s += "</svg>\n"
        return s
    }
}

// MARK: - Shared pieces

private func svgHeader(width: Double, height: Double, title: String, subtitle: String?) -> String {
    var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" "
    s += "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
    s += "<title>\(xmlEscape(title))</title>\n"
    s += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
    s += "<text x=\"\(f1(width / 2))\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(xmlEscape(title))</text>\n"
    if let subtitle {
        s += "<text x=\"\(f1(width / 2))\" y=\"42\" text-anchor=\"middle\" font-size=\"11\" fill=\"#555\">\(xmlEscape(subtitle))</text>\n"
    }
    return s
}

private func gridAndAxes(
    xa: PlotAxis?, ya: PlotAxis, left: Double, top: Double, pw: Double, ph: Double,
    xTick: (Double) -> String, yTick: (Double) -> String
) -> String {
    var s = "<defs><clipPath id=\"plotarea\"><rect x=\"\(f1(left))\" y=\"\(f1(top - 6))\" width=\"\(f1(pw + 6))\" height=\"\(f1(ph + 12))\"/></clipPath></defs>\n"
    let (yMajor, yMinor) = ya.ticks()
    for v in yMinor {
        let y = top + ph - ya.fraction(v) * ph
        s += "<line x1=\"\(f1(left))\" y1=\"\(f1(y))\" x2=\"\(f1(left + pw))\" y2=\"\(f1(y))\" stroke=\"#eeeeee\"/>\n"
    }
    for v in yMajor {
        let y = top + ph - ya.fraction(v) * ph
        s += "<line x1=\"\(f1(left))\" y1=\"\(f1(y))\" x2=\"\(f1(left + pw))\" y2=\"\(f1(y))\" stroke=\"#d0d0d0\"/>\n"
        s += "<line x1=\"\(f1(left - 5))\" y1=\"\(f1(y))\" x2=\"\(f1(left))\" y2=\"\(f1(y))\" stroke=\"#333\"/>\n"
        s += "<text x=\"\(f1(left - 8))\" y=\"\(f1(y + 4))\" text-anchor=\"end\">\(xmlEscape(yTick(v)))</text>\n"
    }
    if let xa {
        let (xMajor, xMinor) = xa.ticks()
        for v in xMinor {
            let x = left + xa.fraction(v) * pw
            s += "<line x1=\"\(f1(x))\" y1=\"\(f1(top))\" x2=\"\(f1(x))\" y2=\"\(f1(top + ph))\" stroke=\"#eeeeee\"/>\n"
        }
        for v in xMajor {
            let x = left + xa.fraction(v) * pw
            s += "<line x1=\"\(f1(x))\" y1=\"\(f1(top))\" x2=\"\(f1(x))\" y2=\"\(f1(top + ph))\" stroke=\"#d0d0d0\"/>\n"
            s += "<line x1=\"\(f1(x))\" y1=\"\(f1(top + ph))\" x2=\"\(f1(x))\" y2=\"\(f1(top + ph + 5))\" stroke=\"#333\"/>\n"
            s += "<text x=\"\(f1(x))\" y=\"\(f1(top + ph + 19))\" text-anchor=\"middle\">\(xmlEscape(xTick(v)))</text>\n"
        }
    }
    s += "<rect x=\"\(f1(left))\" y=\"\(f1(top))\" width=\"\(f1(pw))\" height=\"\(f1(ph))\" fill=\"none\" stroke=\"#333\"/>\n"
    return s
}

private func axisTitles(xLabel: String, yLabel: String, left: Double, top: Double, pw: Double, ph: Double) -> String {
    var s = ""
    if !xLabel.isEmpty {
        s += "<text x=\"\(f1(left + pw / 2))\" y=\"\(f1(top + ph + 44))\" text-anchor=\"middle\" font-size=\"13\">\(xmlEscape(xLabel))</text>\n"
    }
    let cy = top + ph / 2
    s += "<text x=\"18\" y=\"\(f1(cy))\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 18 \(f1(cy)))\">\(xmlEscape(yLabel))</text>\n"
    return s
}

private func legendBox(
    _ entries: [(name: String, color: String, dashed: Bool, emphasized: Bool)], placement: LegendPlacement,
    left: Double, top: Double, pw: Double, ph: Double, swatch: Bool = false
) -> String {
    guard !entries.isEmpty else { return "" }
    let rowH = 17.0
    let w = legendWidth(entries.map(\.name))
    let h = Double(entries.count) * rowH + 10
    let x0: Double
    let y0: Double
    switch placement {
    case .right: (x0, y0) = (left + pw + 16, top)
    case .topLeft: (x0, y0) = (left + 10, top + 10)
    case .bottomRight: (x0, y0) = (left + pw - w - 10, top + ph - h - 10)
    }
    var s = "<g>\n<rect x=\"\(f1(x0))\" y=\"\(f1(y0))\" width=\"\(f1(w))\" height=\"\(f1(h))\" fill=\"#ffffff\" fill-opacity=\"0.9\" stroke=\"#bbbbbb\"/>\n"
    for (i, e) in entries.enumerated() {
        let y = y0 + 5 + Double(i) * rowH + rowH / 2
        if swatch {
            s += "<rect x=\"\(f1(x0 + 8))\" y=\"\(f1(y - 5))\" width=\"20\" height=\"10\" fill=\"\(e.color)\"/>\n"
        } else {
            let dash = e.dashed ? " stroke-dasharray=\"6 4\"" : ""
            s += "<line x1=\"\(f1(x0 + 8))\" y1=\"\(f1(y))\" x2=\"\(f1(x0 + 28))\" y2=\"\(f1(y))\" stroke=\"\(e.color)\" stroke-width=\"\(e.emphasized ? 3 : 1.8)\"\(dash)/>\n"
        }
        s += "<text x=\"\(f1(x0 + 34))\" y=\"\(f1(y + 4))\"\(e.emphasized ? " font-weight=\"bold\"" : "")>\(xmlEscape(e.name))</text>\n"
    }
    return s + "</g>\n"
}

/// A CDF as plot points: (sample, fraction ≤ sample), thinned to at most `maxPoints`.
func cdfPoints(_ samples: [Double], maxPoints: Int = 300) -> [(x: Double, y: Double)] {
    let s = samples.filter { $0.isFinite && $0 > 0 }.sorted()
    guard !s.isEmpty else { return [] }
    let n = s.count
    let step = max(1, n / maxPoints)
    var out: [(x: Double, y: Double)] = []
    var i = 0
    while i < n {
        out.append((s[i], Double(i + 1) / Double(n)))
        i += step
    }
    if out.last?.x != s[n - 1] || out.last?.y != 1 { out.append((s[n - 1], 1)) }
    return out
}
