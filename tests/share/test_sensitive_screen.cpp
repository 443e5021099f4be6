// The sensitive-span screen on hand-labelled sentences: what it must catch (and where the span starts, since the
// donation stops there) and ordinary medical questions it must leave alone (else nothing would ever donate).
#include <gtest/gtest.h>

#include <string>

#include "share/sensitive_screen.h"

namespace kvs::share {
namespace {

struct Case {
  const char* text;
  const char* secret;  // the text of the first span must start with this; nullptr: no span
};

void expect_first(const Case& c) {
  const std::string t = c.text;
  auto s = first_sensitive_span(t);
  if (!c.secret) {
    EXPECT_FALSE(s.has_value()) << t << "\n  flagged: '" << t.substr(s->begin, s->end - s->begin) << "' ("
                                << sensitive_kind_name(s->kind) << ")";
    return;
  }
  ASSERT_TRUE(s.has_value()) << "missed in: " << t;
  EXPECT_EQ(t.find(c.secret), s->begin) << t << "\n  flagged: '" << t.substr(s->begin, s->end - s->begin) << "'";
  EXPECT_LE(s->end, t.size());
  EXPECT_LT(s->begin, s->end);
}

TEST(SensitiveScreen, CatchesContactDetailsAndIdentifiers) {
  const Case cases[] = {
      {"Please write to jane.doe+clinic@example-mail.co.uk about my results.", "jane.doe+clinic@"},
      {"Call me back at (555) 013-2487 tomorrow.", "(555) 013-2487"},
      {"My number is +44 20 7946 0958.", "+44 20 7946 0958"},
      {"SSN 123-45-6789, what does my diagnosis mean?", "123-45-6789"},
      {"My medical record number is MRN4471902 and I have a rash.", "MRN4471902"},
      {"Passport X1234567 expired; can I travel with diabetes?", "X1234567"},
      {"My account 00412345 was billed twice.", "00412345"},
      {"Card 4111 1111 1111 1111 was charged", "4111 1111 1111 1111"},
  };
  for (const Case& c : cases) expect_first(c);
}

TEST(SensitiveScreen, CatchesDatesOfBirth) {
  const Case cases[] = {
      {"I was born on 03/04/1985 and have asthma.", "03/04/1985"},
      {"DOB: 1985-04-03. Is my dose right?", "1985-04-03"},
      {"Born March 3, 1985, I take metformin.", "March 3, 1985"},
      {"My daughter (born 3rd of March 2019) has a fever.", "3rd of March 2019"},
      {"Date of birth 12.07.61, hypertension since 2010.", "12.07.61"},
      {"I was born in 1961 and my knees hurt.", "1961"},
  };
  for (const Case& c : cases) expect_first(c);
}

TEST(SensitiveScreen, CatchesNamesAfterIntroductionsInSeveralLanguages) {
  const Case cases[] = {
      {"Hi, my name is Zorblat Quixley and I have a cough.", "Zorblat Quixley"},
      {"my name is john, I get migraines", "john"},
      {"I am Maria Lopez, 54, with type 2 diabetes.", "Maria Lopez"},
      {"I\xE2\x80\x99m Ahmed and my son has asthma.", "Ahmed"},
      {"Hola, me llamo Lucía y tengo fiebre.", "Lucía"},
      {"Bonjour, je m'appelle Élodie Martin.", "Élodie Martin"},
      {"Hallo, ich heiße Jürgen und habe Kopfschmerzen.", "Jürgen"},
      {"Mein Name ist Petra Schulz.", "Petra Schulz"},
      {"Ciao, mi chiamo Giulia.", "Giulia"},
      {"Olá, meu nome é João Silva.", "João Silva"},
  };
  for (const Case& c : cases) expect_first(c);
}

TEST(SensitiveScreen, LeavesOrdinaryQuestionsAlone) {
  const Case cases[] = {
      {"What are the symptoms of Glaucoma ?", nullptr},
      {"I am worried about my blood pressure of 140/90; is 120/80 normal?", nullptr},
      {"I am a nurse. How many people have diabetes in 2020, about 34.2 million?", nullptr},
      {"Take 2 tablets of 500 mg every 4-6 hours, at most 4,000 mg a day.", nullptr},
      {"What is the outlook for Graves disease? I'm not sure what causes it.", nullptr},
      {"Is vitamin B12 deficiency linked to anemia? Also COVID-19 and H1N1.", nullptr},
      {"In March 2019 the guidelines changed; see section 3.2.1 of the handout.", nullptr},
      {"Contact the clinic by e-mail @ the front desk.", nullptr},
      {"Babies born to mothers over 35, or born 2 weeks early, weigh less.", nullptr},
      {"<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n", nullptr},
  };
  for (const Case& c : cases) expect_first(c);
}

TEST(SensitiveScreen, SpansAreSortedDisjointAndInsideTheText) {
  const std::string t =
      "my name is Ana Ruiz, ana.ruiz@example.org, born 1970-01-02, phone 555 123 4567, ID AB99123456.";
  auto spans = find_sensitive_spans(t);
  ASSERT_GE(spans.size(), 5u);
  for (size_t i = 0; i < spans.size(); ++i) {
    EXPECT_LT(spans[i].begin, spans[i].end);
    EXPECT_LE(spans[i].end, t.size());
    if (i > 0) EXPECT_LE(spans[i - 1].end, spans[i].begin);
  }
  EXPECT_EQ(t.substr(spans[0].begin, 8), "Ana Ruiz");
  // Bytes that are not UTF-8 and a lone '@' or digits at the very end do not break it.
  EXPECT_FALSE(first_sensitive_span(std::string("\xff\xfe@\x80 12")).has_value());
  EXPECT_TRUE(first_sensitive_span(std::string("tail 1234567")).has_value());
}

}  // namespace
}  // namespace kvs::share
