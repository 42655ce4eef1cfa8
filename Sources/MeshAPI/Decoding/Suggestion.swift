// "Did you mean ...?" for misspelt field names and enum values.

enum Suggestion {
    /// The candidate closest to `word` by edit distance, ignoring case, if it is close enough to
    /// be a plausible typo: at most 1 edit for short words, about a third of the length otherwise.
    static func closest(to word: String, among candidates: [String]) -> String? {
        // Istio's two selector shapes are easy to mix up: Sidecar and ServiceEntry use
        // `labels`, policies and DestinationRule use `matchLabels`.
        for (written, meant) in [("matchLabels", "labels"), ("labels", "matchLabels")] where word == written && candidates.contains(meant) {
            return meant
        }
        let target = Array(word.lowercased())
        let allowed = max(1, min(3, target.count / 3))
        var best: (String, Int)?
        // Sorted, so that ties resolve the same way on every run.
        for candidate in candidates.sorted() {
            let distance = editDistance(target, Array(candidate.lowercased()), limit: allowed)
            if distance <= allowed, best == nil || distance < best!.1 {
                best = (candidate, distance)
            }
        }
        return best?.0
    }

    /// Damerau-Levenshtein (optimal string alignment) distance; stops early past `limit`.
    static func editDistance(_ a: [Character], _ b: [Character], limit: Int) -> Int {
        if abs(a.count - b.count) > limit { return limit + 1 }
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previousPrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            var rowMinimum = current[0]
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previousPrevious[j - 2] + 1)
                }
                rowMinimum = min(rowMinimum, current[j])
            }
            if rowMinimum > limit { return limit + 1 }
            (previousPrevious, previous, current) = (previous, current, previousPrevious)
        }
        return previous[b.count]
    }
}
