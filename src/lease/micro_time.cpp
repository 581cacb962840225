#include <leaselocker/lease/micro_time.hpp>

#include <algorithm>
#include <cstdio>
#include <iterator>

namespace leaselocker {

using namespace std::chrono;

std::string format_micro_time(micro_time t) {
    auto day = floor<days>(t);
    year_month_day ymd{day};
    hh_mm_ss<microseconds> hms{t - day};
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06ldZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                  static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                  static_cast<long>(hms.subseconds().count()));
    return buf;
}

std::optional<micro_time> parse_micro_time(std::string_view s) {
    std::size_t i = 0;
    auto digits = [&](std::size_t n, int& out) {
        if (i + n > s.size()) return false;
        out = 0;
        for (std::size_t k = 0; k < n; ++k) {
            char c = s[i + k];
            if (c < '0' || c > '9') return false;
            out = out * 10 + (c - '0');
        }
        i += n;
        return true;
    };
    auto expect = [&](auto... cs) {
        if (i < s.size() && ((s[i] == cs) || ...)) {
            ++i;
            return true;
        }
        return false;
    };
    int y, mo, d, h, mi, sec;
    if (!digits(4, y) || !expect('-') || !digits(2, mo) || !expect('-') || !digits(2, d) || !expect('T', 't', ' ') ||
        !digits(2, h) || !expect(':') || !digits(2, mi) || !expect(':') || !digits(2, sec))
        return std::nullopt;
    long micros = 0;
    if (expect('.', ',')) {
        int n = 0;
        for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++n)
            if (n < 6) micros = micros * 10 + (s[i] - '0');
        if (n == 0) return std::nullopt;
        for (; n < 6; ++n) micros *= 10; // fewer than six digits: scale up; more: truncated
    }
    minutes offset{0};
    if (expect('Z', 'z')) {
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i++] == '-' ? -1 : 1;
        int oh, om;
        if (!digits(2, oh) || !expect(':') || !digits(2, om) || oh > 23 || om > 59) return std::nullopt;
        offset = minutes(sign * (oh * 60 + om));
    } else {
        return std::nullopt;
    }
    if (i != s.size()) return std::nullopt;
    year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
    if (!ymd.ok() || h > 23 || mi > 59 || sec > 59) return std::nullopt;
    return sys_days(ymd) + hours(h) + minutes(mi) + seconds(sec) + microseconds(micros) - offset;
}

std::optional<micro_time> parse_http_date(std::string_view s) {
    // "Fri, 04 Dec 2026 19:36:07 GMT": fixed width, 29 characters.
    static constexpr std::string_view weekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[19] != ':' ||
        s[22] != ':' || s.substr(25) != " GMT")
        return std::nullopt;
    auto number = [&](std::size_t at, std::size_t n, int& out) {
        out = 0;
        for (std::size_t k = at; k < at + n; ++k) {
            if (s[k] < '0' || s[k] > '9') return false;
            out = out * 10 + (s[k] - '0');
        }
        return true;
    };
    auto index_of = [](const auto& names, std::string_view name) {
        for (std::size_t k = 0; k < std::size(names); ++k)
            if (names[k] == name) return static_cast<int>(k);
        return -1;
    };
    const int weekday_index = index_of(weekdays, s.substr(0, 3));
    const int month_index = index_of(months, s.substr(8, 3));
    int d, y, h, mi, sec;
    if (weekday_index < 0 || month_index < 0 || !number(5, 2, d) || !number(12, 4, y) || !number(17, 2, h) ||
        !number(20, 2, mi) || !number(23, 2, sec))
        return std::nullopt;
    year_month_day ymd{year(y), month(static_cast<unsigned>(month_index + 1)), day(static_cast<unsigned>(d))};
    if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
    if (weekday{sys_days(ymd)} != weekday{static_cast<unsigned>(weekday_index)}) return std::nullopt;
    return sys_days(ymd) + hours(h) + minutes(mi) + seconds(std::min(sec, 59)); // a leap second counts as :59
}

} // namespace leaselocker
